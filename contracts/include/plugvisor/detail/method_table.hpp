// Internal to plugvisor/contracts.hpp: the machinery that turns a contract's
// method table into wire encoding, typed wrappers, dispatch and descriptions.
#pragma once

#include <array>
#include <concepts>
#include <list>
#include <map>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace plugvisor::detail {

/// A type as a value, for overloads found by argument-dependent lookup
/// (plugvisor_contract_of, plugvisor_json_schema): exact types only, no
/// derived-to-base conversion.
template <class T>
struct Tag {};

/// One entry of a contract's method table: the wire name, the member and its
/// documentation. A method takes no argument or one; BytesView travels raw,
/// anything else as JSON (through nlohmann's to_json/from_json).
template <class C, class R, class... A>
struct MethodSpec {
  static_assert(sizeof...(A) <= 1, "a contract method takes at most one argument");
  static_assert(!std::is_same_v<std::decay_t<R>, BytesView>,
                "a contract method returns Bytes, not BytesView (a view of a reply would outlive its buffer)");
  using Class = C;
  using Result = R;
  using Args = std::tuple<std::decay_t<A>...>;

  std::string_view name;
  R (C::*fn)(A...);
  MethodOptions options = {};
};

// Spelled out because aggregate class template argument deduction (P1816)
// arrived only in clang 17: Debian 12's clang 14 builds the fuzzers with these.
template <class C, class R, class... A>
MethodSpec(std::string_view, R (C::*)(A...)) -> MethodSpec<C, R, A...>;
template <class C, class R, class... A>
MethodSpec(std::string_view, R (C::*)(A...), MethodOptions) -> MethodSpec<C, R, A...>;

template <class T>
constexpr Encoding encoding_of() {
  if constexpr (std::is_void_v<T>) {
    return Encoding::none;
  } else if constexpr (std::is_same_v<T, BytesView> || std::is_same_v<T, Bytes>) {
    return Encoding::bytes;
  } else {
    return Encoding::json;
  }
}

template <class Spec>
constexpr Encoding input_encoding() {
  if constexpr (std::tuple_size_v<typename Spec::Args> == 0) {
    return Encoding::none;
  } else {
    return encoding_of<std::tuple_element_t<0, typename Spec::Args>>();
  }
}

template <class Spec>
constexpr Encoding output_encoding() {
  return encoding_of<typename Spec::Result>();
}

template <class T>
struct IsVector : std::false_type {};
template <class T, class A>
struct IsVector<std::vector<T, A>> : std::true_type {};
template <class T, class A>
struct IsVector<std::list<T, A>> : std::true_type {};
template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsStringMap : std::false_type {};
template <class T, class L, class A>
struct IsStringMap<std::map<std::string, T, L, A>> : std::true_type {};

template <class T>
concept HasSchemaHook = requires { plugvisor_json_schema(Tag<T>{}); };

/// The JSON Schema of what a C++ type encodes to, where it can be told from
/// the type: scalars, strings, vectors, optionals, string-keyed maps, and any
/// type with a `plugvisor_json_schema(plugvisor::detail::Tag<T>)` found by
/// ADL (PLUGVISOR_JSON_SCHEMA declares one). Null when it cannot be told.
template <class T>
Json schema_of() {
  using U = std::remove_cvref_t<T>;
  if constexpr (HasSchemaHook<U>) {
    return Json::parse(std::string_view(plugvisor_json_schema(Tag<U>{})));
  } else if constexpr (std::is_same_v<U, bool>) {
    return Json{{"type", "boolean"}};
  } else if constexpr (std::is_integral_v<U> && std::is_unsigned_v<U>) {
    return Json{{"type", "integer"}, {"minimum", 0}};
  } else if constexpr (std::is_integral_v<U>) {
    return Json{{"type", "integer"}};
  } else if constexpr (std::is_floating_point_v<U>) {
    return Json{{"type", "number"}};
  } else if constexpr (std::is_same_v<U, std::string>) {
    return Json{{"type", "string"}};
  } else if constexpr (std::is_same_v<U, Json>) {
    return true;
  } else if constexpr (IsVector<U>::value) {
    Json out{{"type", "array"}};
    if (Json items = schema_of<typename U::value_type>(); !items.is_null()) out["items"] = std::move(items);
    return out;
  } else if constexpr (IsOptional<U>::value) {
    Json inner = schema_of<typename U::value_type>();
    if (inner.is_null()) return nullptr;
    return Json{{"anyOf", {std::move(inner), {{"type", "null"}}}}};
  } else if constexpr (IsStringMap<U>::value) {
    Json out{{"type", "object"}};
    if (Json values = schema_of<typename U::mapped_type>(); !values.is_null()) {
      out["additionalProperties"] = std::move(values);
    }
    return out;
  } else {
    return nullptr;
  }
}

/// The schema a method's table entry gives for its input or output: the
/// declared text if any, else what the C++ type tells.
template <class T>
Json schema_or_declared(std::string_view declared, std::string_view method, std::string_view what) {
  if (!declared.empty()) {
    try {
      return Json::parse(declared);
    } catch (const Json::exception& e) {
      throw Error(ErrorCode::config, "the " + std::string(what) + " of method " + std::string(method) +
                                         " in the contract's table is not JSON: " + e.what());
    }
  }
  if constexpr (std::is_void_v<T> || encoding_of<T>() != Encoding::json) {
    return nullptr;
  } else {
    return schema_of<T>();
  }
}

template <class Spec>
MethodDescription describe_method(const Spec& spec) {
  using Input = std::conditional_t<std::tuple_size_v<typename Spec::Args> == 0, void,
                                   std::tuple_element_t<0, std::conditional_t<std::tuple_size_v<typename Spec::Args> == 0,
                                                                              std::tuple<void>, typename Spec::Args>>>;
  return MethodDescription{std::string(spec.name),
                           input_encoding<Spec>(),
                           output_encoding<Spec>(),
                           schema_or_declared<Input>(spec.options.input_schema, spec.name, "input_schema"),
                           schema_or_declared<typename Spec::Result>(spec.options.output_schema, spec.name,
                                                                     "output_schema"),
                           std::string(spec.options.description)};
}

inline Payload none_payload() { return Payload{Encoding::none, "{}"}; }

/// A type may give its JSON form a codec of its own, found by ADL, which the
/// method table then uses instead of building an nlohmann DOM per call:
///   std::string plugvisor_json_encode(Tag<T>, const T&);
///   T plugvisor_json_decode(Tag<T>, std::string_view text);
/// They must *be* the type's JSON form, not a second one: the same document
/// (by value) as to_json, the same values and errors as parse_json + from_json
/// (the same depth bound), which a type's tests should check against them.
template <class T>
concept HasJsonEncoder = requires(const T& value) {
  { plugvisor_json_encode(Tag<T>{}, value) } -> std::convertible_to<std::string>;
};
template <class T>
concept HasJsonDecoder = requires(std::string_view text) {
  { plugvisor_json_decode(Tag<T>{}, text) } -> std::same_as<T>;
};

/// Encodes an argument or a result. Bytes are moved in when given as an
/// rvalue (a result); a BytesView is copied once, into the payload itself.
template <class T>
Payload encode(T&& value) {
  using U = std::remove_cvref_t<T>;
  if constexpr (encoding_of<U>() == Encoding::bytes) {
    return Payload{Encoding::bytes, Bytes(std::forward<T>(value))};
  } else if constexpr (HasJsonEncoder<U>) {
    return Payload{Encoding::json, plugvisor_json_encode(Tag<U>{}, value)};
  } else {
    return Payload{Encoding::json, Json(value).dump()};
  }
}

/// Decodes a JSON payload into T; `what` names it in the error: a string, or
/// a function that returns one (called only on an error, so that a call
/// that succeeds builds no message). Documents nested deeper than
/// protocol::max_json_depth are refused before parsing.
template <class T, class What>
T decode_json(const Payload& payload, const What& what, ErrorCode on_error) {
  auto name = [&]() -> std::string {
    if constexpr (std::is_invocable_v<const What&>) {
      return what();
    } else {
      return std::string(what);
    }
  };
  try {
    if constexpr (HasJsonDecoder<T>) {
      return plugvisor_json_decode(Tag<T>{}, payload.body);
    } else {
      return protocol::parse_json(payload.body).get<T>();
    }
  } catch (const Json::exception& e) {
    throw Error(on_error, name() + " is not the JSON this method takes: " + e.what());
  } catch (const Error& e) {
    throw Error(on_error, name() + ": " + e.what());
  }
}

/// Calls one table entry with a wire input. `In` is `const Payload&` or
/// `Payload` (the caller gives the input up): a `Bytes` parameter then takes
/// the request's buffer itself, so that a method that returns its input, or
/// changes it in place, copies nothing.
template <class Spec, class C, class In>
Payload call_spec(const Spec& spec, C& impl, In&& input) {
  using R = typename Spec::Result;
  auto invoke_with_input = [&]() -> decltype(auto) {
    if constexpr (std::tuple_size_v<typename Spec::Args> == 0) {
      return (impl.*spec.fn)();
    } else {
      using A = std::tuple_element_t<0, typename Spec::Args>;
      if constexpr (std::is_same_v<A, Bytes>) {
        return (impl.*spec.fn)(Bytes(std::forward<In>(input).body));
      } else if constexpr (encoding_of<A>() == Encoding::bytes) {
        return (impl.*spec.fn)(BytesView(input.body));
      } else {
        return (impl.*spec.fn)(decode_json<A>(input, "the request body", ErrorCode::invalid_input));
      }
    }
  };
  if constexpr (std::is_void_v<R>) {
    invoke_with_input();
    return none_payload();
  } else {
    return encode(invoke_with_input());
  }
}

template <class Traits, class C, class In>
Payload dispatch(C& impl, std::string_view method, In&& input) {
  std::optional<Payload> out;
  // Only the one entry named `method` runs, so `input` is given up at most once.
  std::apply(
      [&](const auto&... spec) {
        ((!out && spec.name == method ? (out = call_spec(spec, impl, std::forward<In>(input)), 0) : 0), ...);
      },
      Traits::methods);
  if (!out) {
    throw Error(ErrorCode::not_found,
                "contract " + std::string(Traits::name) + " has no method '" + std::string(method) + "'");
  }
  return std::move(*out);
}

template <class A, class B>
constexpr bool same_member(A a, B b) {
  if constexpr (std::is_same_v<A, B>) {
    return a == b;
  } else {
    return false;
  }
}

/// The position of the entry named `name` in a method table (compile-time);
/// the table's size if there is none. By name, not by member pointer: the
/// result of comparing pointers to virtual members is unspecified, and clang
/// refuses it in a constant expression.
template <class Table>
constexpr std::size_t method_index(const Table& methods, std::string_view name) {
  std::size_t index = std::tuple_size_v<Table>;
  std::size_t i = 0;
  std::apply([&](const auto&... spec) { (((spec.name == name ? index = i : 0), ++i), ...); }, methods);
  return index;
}

/// True if two entries of a table share a wire name (checked at compile time).
template <class Table>
constexpr bool has_duplicate_names(const Table& methods) {
  constexpr std::size_t n = std::tuple_size_v<Table>;
  std::array<std::string_view, n> names{};
  std::size_t i = 0;
  std::apply([&](const auto&... spec) { ((names[i++] = spec.name), ...); }, methods);
  for (std::size_t a = 0; a < n; ++a) {
    for (std::size_t b = a + 1; b < n; ++b) {
      if (names[a] == names[b]) return true;
    }
  }
  return false;
}

/// The root of every typed wrapper: derives from the contract and holds the
/// channel; each method of the table adds a forwarder on top (see
/// PLUGVISOR_CONTRACT), so a wrapper is generated from the table alone.
template <class C, class Traits>
class RemoteRoot : public C {
 public:
  explicit RemoteRoot(std::shared_ptr<Channel> channel) : channel_(std::move(channel)) {}

 protected:
  /// Calls the table entry at `index` (see method_index) over the channel.
  template <std::size_t index, class... A>
  auto invoke(A&&... args) {
    static_assert(index < std::tuple_size_v<std::decay_t<decltype(Traits::methods)>>,
                  "method is not declared in the contract's method table");
    constexpr auto& spec = std::get<index>(Traits::methods);
    using Spec = std::decay_t<decltype(spec)>;
    using R = typename Spec::Result;

    Payload output = [&] {
      if constexpr (sizeof...(A) == 1) {
        return channel_->call(spec.name, encode(std::forward<A>(args)...));
      } else {
        return channel_->call(spec.name, none_payload());
      }
    }();
    if constexpr (std::is_void_v<R>) {
      return;
    } else if constexpr (encoding_of<R>() == Encoding::bytes) {
      return R(std::move(output.body));
    } else {
      return decode_json<R>(
          output, [&] { return "the reply of " + channel_->provider() + " to " + std::string(spec.name); },
          ErrorCode::bad_reply);
    }
  }

 private:
  std::shared_ptr<Channel> channel_;
};

/// Binds a member function's signature to a forwarder template:
/// Signature<R (K::*)(A...)>::bind<F, Base> is F<Base, R, A...>.
template <class Member>
struct Signature;
template <class R, class K, class... A>
struct Signature<R (K::*)(A...)> {
  template <template <class, class, class...> class F, class Base>
  using bind = F<Base, R, A...>;
};

/// `ping`, which every contract inherits from pluginBase.
template <class Base>
struct PingForwarder : Base {
  using Base::Base;
  void ping() override { this->template invoke<0>(); }  // the first entry of every table
};

/// Stacks forwarders on a root: Stack<Root, F1, F2> is F2<F1<Root>>.
template <class Root, template <class> class... Forwarders>
struct Stack;
template <class Root>
struct Stack<Root> {
  using type = Root;
};
template <class Root, template <class> class First, template <class> class... Rest>
struct Stack<Root, First, Rest...> {
  using type = typename Stack<First<Root>, Rest...>::type;
};

/// The final typed wrapper over a forwarder stack.
template <class Stacked>
class RemoteOf final : public Stacked {
 public:
  using Stacked::Stacked;
};

}  // namespace plugvisor::detail
