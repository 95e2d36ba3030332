// JSON Schema validator: hostile schemas and instances, invalid schemas, violations.
#include <catch2/catch.hpp>

#include "plugvisor/detail/json_schema.hpp"
