// Compiling a JSON Schema (draft-07) into Nodes: keyword values checked,
// regexes built, "$ref"s resolved to node indexes, cycles of "$ref"s that make
// no progress on the instance rejected.
//
// Compiling never recurses along the schema: subschemas go on a work list.
// The only recursive walk, the index of "$id"s, is bounded by max_schema_depth.
#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <set>

#include "json_schema_compiled.hpp"
#include "json_schema_uri.hpp"
#include "plugvisor/detail/json_schema.hpp"

namespace plugvisor::detail::json_schema {

namespace {

// Keywords whose value is one subschema, an array of them, or a map of them.
constexpr std::string_view single_keywords[] = {"additionalItems", "additionalProperties", "contains", "propertyNames",
                                                "not", "if", "then", "else", "items"};
constexpr std::string_view array_keywords[] = {"allOf", "anyOf", "oneOf", "items"};
constexpr std::string_view map_keywords[] = {"properties", "patternProperties", "definitions", "dependencies"};

// Enum and const values are copied into the compiled form, and copies recurse.
constexpr std::size_t max_value_depth = 256;

[[noreturn]] void invalid(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::config,
              "invalid JSON Schema at " + (path.empty() ? std::string("the root") : path) + ": " + what);
}

std::size_t depth_of(const Json& value, std::size_t limit) {
  if (!value.is_structured() || limit == 0) return value.is_structured() ? 1 : 0;
  std::size_t deepest = 0;
  for (const auto& child : value) deepest = std::max(deepest, depth_of(child, limit - 1));
  return deepest + 1;
}

struct DocPos {
  int doc = 0;
  std::string pointer;
  auto operator<=>(const DocPos&) const = default;
};

struct Indexed {
  std::string outer_base;  // the base URI in effect around the subschema (before its own "$id")
};

struct Work {
  NodeId id;
  DocPos pos;
  std::string outer_base;
  std::size_t depth;
};

class Compiler {
 public:
  Compiled run(const Json& schema) {
    docs_.push_back({&schema, ""});
    resources_.emplace("", DocPos{0, ""});  // "#..." in a schema without "$id"
    index(0, schema, "", "", 0);
    enqueue({0, ""}, "", 0);
    while (!work_.empty()) {
      Work w = std::move(work_.front());
      work_.pop_front();
      build(w);
    }
    reject_cycles();
    return std::move(out_);
  }

 private:
  struct Doc {
    const Json* root;
    std::string path_prefix;  // prepended to the paths of its nodes: "" for the schema itself
  };

  // ---- the index: where each "$id" (a resource or a plain-name anchor) lives

  void index(int doc, const Json& s, const std::string& pointer, const std::string& outer_base, std::size_t depth) {
    std::string where = docs_[doc].path_prefix + pointer;
    if (depth > JsonSchema::max_schema_depth) {
      invalid(where, "subschemas nest deeper than " + std::to_string(JsonSchema::max_schema_depth) + " levels");
    }
    if (!s.is_object()) return;  // booleans have nothing to index; other types are refused by build()
    indexed_.emplace(DocPos{doc, pointer}, Indexed{outer_base});
    std::string base = outer_base;
    auto id = s.find("$id");
    if (id != s.end() && id->is_string() && !s.contains("$ref")) {  // draft-07: "$ref" hides its siblings
      std::string uri = resolve_uri(outer_base, id->get<std::string>());
      std::size_t hash = uri.find('#');
      std::string fragment = hash == std::string::npos ? "" : uri.substr(hash + 1);
      base = uri.substr(0, hash);
      if (fragment.empty()) {
        resources_.try_emplace(base, DocPos{doc, pointer});
      } else if (fragment[0] != '/') {
        anchors_.try_emplace(uri, DocPos{doc, pointer});
      }
    }
    for (const auto& [key, value] : s.items()) {
      std::string child = pointer;
      append_pointer_token(child, key);
      if (is_one_of(key, single_keywords) && (value.is_object() || value.is_boolean())) {
        index(doc, value, child, base, depth + 1);
      } else if (is_one_of(key, array_keywords) && value.is_array()) {
        for (std::size_t i = 0; i < value.size(); ++i) {
          index(doc, value[i], child + "/" + std::to_string(i), base, depth + 1);
        }
      } else if (is_one_of(key, map_keywords) && value.is_object()) {
        for (const auto& [name, sub] : value.items()) {
          std::string p = child;
          append_pointer_token(p, name);
          index(doc, sub, p, base, depth + 1);
        }
      }
    }
  }

  template <std::size_t N>
  static bool is_one_of(std::string_view key, const std::string_view (&set)[N]) {
    return std::find(std::begin(set), std::end(set), key) != std::end(set);
  }

  // ---- nodes: allocated on first reference, built from the work list

  NodeId enqueue(const DocPos& pos, const std::string& outer_base, std::size_t depth) {
    if (auto it = ids_.find(pos); it != ids_.end()) return it->second;
    auto id = static_cast<NodeId>(out_.nodes.size());
    out_.nodes.emplace_back();
    out_.nodes.back().path = docs_[pos.doc].path_prefix + pos.pointer;
    ids_.emplace(pos, id);
    work_.push_back({id, pos, outer_base, depth});
    return id;
  }

  // A subschema of the node being built, at keyword `key` (plus `token`s).
  NodeId child(const Work& w, const std::string& base, std::string_view key, std::string_view token = {},
               bool has_token = false) {
    std::string pointer = w.pos.pointer;
    append_pointer_token(pointer, key);
    if (has_token) append_pointer_token(pointer, token);
    return enqueue({w.pos.doc, pointer}, base, w.depth + 1);
  }

  const Json& at(const DocPos& pos) const { return docs_[pos.doc].root->at(Json::json_pointer(pos.pointer)); }

  void build(const Work& w) {
    const Json& s = at(w.pos);
    // Not a reference into `out_.nodes`: building may enqueue, which grows the vector.
    auto node = [&]() -> Node& { return out_.nodes[static_cast<std::size_t>(w.id)]; };
    std::string where = node().path;
    if (w.depth > JsonSchema::max_schema_depth) {
      invalid(where, "subschemas nest deeper than " + std::to_string(JsonSchema::max_schema_depth) + " levels");
    }
    if (s.is_boolean()) {
      node().boolean = s.get<bool>();
      return;
    }
    if (!s.is_object()) invalid(where, "a schema must be an object or a boolean, not " + preview(s));

    std::string base = w.outer_base;
    if (auto id = s.find("$id"); id != s.end()) {
      if (!id->is_string()) invalid(where + "/$id", "must be a string, not " + preview(*id));
      if (!s.contains("$ref")) {
        std::string uri = resolve_uri(base, id->get<std::string>());
        base = uri.substr(0, uri.find('#'));
      }
    }
    if (auto ref = s.find("$ref"); ref != s.end()) {
      if (!ref->is_string()) invalid(where + "/$ref", "must be a string, not " + preview(*ref));
      NodeId target = resolve_ref(base, ref->get<std::string>(), where + "/$ref");
      node().ref = target;
      return;  // draft-07: the siblings of "$ref" are ignored
    }

    Keywords k{*this, w, base, s, where};
    k.assertions(node());
    k.applicators();
  }

  // ---- "$ref"

  NodeId resolve_ref(const std::string& base, const std::string& ref, const std::string& where) {
    std::string uri = resolve_uri(base, ref);
    std::size_t hash = uri.find('#');
    std::string resource = uri.substr(0, hash);
    std::string fragment = hash == std::string::npos ? "" : percent_decode(uri.substr(hash + 1));
    if (!resources_.contains(resource) && resource == draft07_metaschema_uri) load_metaschema();

    DocPos target;
    if (!fragment.empty() && fragment[0] != '/') {
      auto it = anchors_.find(resource + "#" + fragment);
      if (it == anchors_.end()) invalid(where, "cannot resolve \"" + ref + "\": no \"$id\": \"#" + fragment + "\" here");
      target = it->second;
    } else {
      auto it = resources_.find(resource);
      if (it == resources_.end()) {
        std::string shown = uri == ref ? "" : " (" + uri + ")";
        invalid(where, "cannot resolve \"" + ref + "\"" + shown + ": " +
                           (resource.find(':') != std::string::npos
                                ? "remote schemas are not fetched"
                                : "no schema with that \"$id\" in this document"));
      }
      target = {it->second.doc, it->second.pointer + fragment};
      try {
        if (!docs_[target.doc].root->contains(Json::json_pointer(target.pointer))) {
          invalid(where, "cannot resolve \"" + ref + "\": nothing at that JSON Pointer");
        }
      } catch (const Json::exception&) {
        invalid(where, "cannot resolve \"" + ref + "\": \"" + fragment + "\" is not a valid JSON Pointer");
      }
    }
    auto indexed = indexed_.find(target);
    // Depth restarts at a target: indexed targets were bounded by index(), and
    // compiling goes through the work list, so it never recurses.
    return enqueue(target, indexed != indexed_.end() ? indexed->second.outer_base : resource, 0);
  }

  void load_metaschema() {
    docs_.push_back({&draft07_metaschema(), std::string(draft07_metaschema_uri) + "#"});
    index(static_cast<int>(docs_.size() - 1), draft07_metaschema(), "", "", 0);
  }

  // ---- cycles: a loop of in-place applicators (through "$ref") never ends

  void reject_cycles() const {
    const auto& nodes = out_.nodes;
    auto in_place = [&](const Node& n) {
      std::vector<NodeId> next;
      if (n.ref != none) next.push_back(n.ref);
      for (const auto* list : {&n.all_of, &n.any_of, &n.one_of}) next.insert(next.end(), list->begin(), list->end());
      for (NodeId id : {n.not_, n.if_, n.then_, n.else_}) {
        if (id != none) next.push_back(id);
      }
      for (const auto& d : n.dependencies) {
        if (d.schema != none) next.push_back(d.schema);
      }
      return next;
    };
    enum Color : std::uint8_t { white, grey, black };
    std::vector<Color> color(nodes.size(), white);
    struct Frame {
      NodeId id;
      std::vector<NodeId> next;
      std::size_t i = 0;
    };
    for (std::size_t start = 0; start < nodes.size(); ++start) {
      if (color[start] != white) continue;
      std::vector<Frame> stack;
      stack.push_back({static_cast<NodeId>(start), in_place(nodes[start])});
      color[start] = grey;
      while (!stack.empty()) {
        Frame& f = stack.back();
        if (f.i == f.next.size()) {
          color[static_cast<std::size_t>(f.id)] = black;
          stack.pop_back();
          continue;
        }
        NodeId n = f.next[f.i++];
        auto& c = color[static_cast<std::size_t>(n)];
        if (c == grey) {
          std::string cycle;
          bool on = false;
          for (const auto& g : stack) {
            on = on || g.id == n;
            if (on) cycle += "#" + nodes[static_cast<std::size_t>(g.id)].path + " -> ";
          }
          cycle += "#" + nodes[static_cast<std::size_t>(n)].path;
          invalid(nodes[static_cast<std::size_t>(n)].path,
                  "a cycle of \"$ref\"s that never descends into the instance would not end: " + cycle);
        }
        if (c == white) {
          c = grey;
          stack.push_back({n, in_place(nodes[static_cast<std::size_t>(n)])});
        }
      }
    }
  }

  // ---- the keywords of one schema object

  struct Keywords {
    Compiler& c;
    const Work& w;
    const std::string& base;
    const Json& s;
    const std::string& where;

    const Json* get(const char* key) const {
      auto it = s.find(key);
      return it == s.end() ? nullptr : &*it;
    }
    std::string at(const char* key) const { return where + "/" + key; }
    std::string where_of(const char* key, std::string_view name) const {
      std::string path = at(key);
      append_pointer_token(path, name);
      return path;
    }

    std::optional<Number> number(const char* key) const {
      const Json* v = get(key);
      if (!v) return std::nullopt;
      if (!v->is_number()) invalid(at(key), "must be a number, not " + preview(*v));
      return to_number(*v);
    }
    std::optional<std::uint64_t> count(const char* key) const {
      const Json* v = get(key);
      if (!v) return std::nullopt;
      if (v->is_number_unsigned()) return v->get<std::uint64_t>();
      if (v->is_number_integer() && v->get<std::int64_t>() >= 0) return v->get<std::uint64_t>();
      if (v->is_number_float()) {
        double d = v->get<double>();
        if (d >= 0 && std::trunc(d) == d) return d >= 1.8e19 ? UINT64_MAX : static_cast<std::uint64_t>(d);
      }
      invalid(at(key), "must be a non-negative integer, not " + preview(*v));
    }
    NodeId sub(const char* key) const {
      const Json* v = get(key);
      if (!v) return none;
      if (!v->is_object() && !v->is_boolean()) invalid(at(key), "must be a schema (an object or a boolean), not " + preview(*v));
      return c.child(w, base, key);
    }
    std::vector<NodeId> subs(const char* key) const {
      const Json* v = get(key);
      if (!v) return {};
      if (!v->is_array() || v->empty()) invalid(at(key), "must be a non-empty array of schemas, not " + preview(*v));
      std::vector<NodeId> ids;
      for (std::size_t i = 0; i < v->size(); ++i) ids.push_back(c.child(w, base, key, std::to_string(i), true));
      return ids;
    }
    Json value(const char* key) const {
      const Json& v = *get(key);
      if (depth_of(v, max_value_depth + 1) > max_value_depth) {
        invalid(at(key), "the value nests deeper than " + std::to_string(max_value_depth) + " levels");
      }
      return v;
    }

    void assertions(Node& n) const {
      if (const Json* t = get("type")) n.types = types(*t);
      if (get("enum")) {
        if (!get("enum")->is_array()) invalid(at("enum"), "must be an array, not " + preview(*get("enum")));
        n.enum_values = value("enum").get<std::vector<Json>>();
      }
      if (get("const")) n.const_value = value("const");
      n.multiple_of = number("multipleOf");
      if (n.multiple_of && !(*n.multiple_of > 0)) invalid(at("multipleOf"), "must be greater than 0");
      n.minimum = number("minimum");
      n.maximum = number("maximum");
      n.exclusive_minimum = number("exclusiveMinimum");
      n.exclusive_maximum = number("exclusiveMaximum");
      n.min_length = count("minLength");
      n.max_length = count("maxLength");
      if (const Json* p = get("pattern")) {
        if (!p->is_string()) invalid(at("pattern"), "must be a string, not " + preview(*p));
        n.pattern = compile_regex(p->get<std::string>(), at("pattern"));
      }
      n.min_items = count("minItems");
      n.max_items = count("maxItems");
      if (const Json* u = get("uniqueItems")) {
        if (!u->is_boolean()) invalid(at("uniqueItems"), "must be a boolean, not " + preview(*u));
        n.unique_items = u->get<bool>();
      }
      n.min_properties = count("minProperties");
      n.max_properties = count("maxProperties");
      if (const Json* r = get("required")) n.required = strings(*r, at("required"));
    }

    std::uint8_t types(const Json& t) const {
      static const std::map<std::string, std::uint8_t, std::less<>> names = {
          {"null", type_null},     {"boolean", type_boolean}, {"object", type_object}, {"array", type_array},
          {"number", type_number}, {"integer", type_integer}, {"string", type_string}};
      auto bit = [&](const Json& name) {
        auto it = name.is_string() ? names.find(name.get<std::string>()) : names.end();
        if (it == names.end()) {
          invalid(at("type"), "must be a type name (null, boolean, object, array, number, integer, string) or an "
                              "array of them, not " + preview(name));
        }
        return it->second;
      };
      if (!t.is_array()) return bit(t);
      std::uint8_t mask = 0;
      for (const auto& name : t) mask |= bit(name);
      if (t.empty()) invalid(at("type"), "must not be an empty array");
      return mask;
    }

    static std::vector<std::string> strings(const Json& v, const std::string& path) {
      if (!v.is_array()) invalid(path, "must be an array of strings, not " + preview(v));
      std::vector<std::string> out;
      for (const auto& e : v) {
        if (!e.is_string()) invalid(path, "must be an array of strings, but holds " + preview(e));
        out.push_back(e.get<std::string>());
      }
      return out;
    }

    void applicators() const {
      // Each child() may grow `c.out_.nodes`: the node is fetched afresh after it.
      auto node = [&]() -> Node& { return c.out_.nodes[static_cast<std::size_t>(w.id)]; };
      if (const Json* items = get("items"); items && items->is_array()) {
        auto ids = std::vector<NodeId>();
        for (std::size_t i = 0; i < items->size(); ++i) ids.push_back(c.child(w, base, "items", std::to_string(i), true));
        node().tuple_items = std::move(ids);
        node().has_tuple_items = true;
      } else {
        NodeId id = sub("items");
        node().items = id;
      }
      NodeId id = sub("additionalItems");
      node().additional_items = id;
      id = sub("contains");
      node().contains = id;
      if (const Json* props = get("properties")) {
        if (!props->is_object()) invalid(at("properties"), "must be an object of schemas, not " + preview(*props));
        std::vector<std::pair<std::string, NodeId>> list;
        for (const auto& [name, v] : props->items()) {
          if (!v.is_object() && !v.is_boolean()) invalid(where_of("properties", name), "must be a schema, not " + preview(v));
          list.emplace_back(name, c.child(w, base, "properties", name, true));
        }
        node().properties = std::move(list);  // std::map order: sorted by name
      }
      if (const Json* pp = get("patternProperties")) {
        if (!pp->is_object()) invalid(at("patternProperties"), "must be an object of schemas, not " + preview(*pp));
        std::vector<std::pair<Regex, NodeId>> list;
        for (const auto& [source, v] : pp->items()) {
          std::string path = at("patternProperties");
          append_pointer_token(path, source);
          if (!v.is_object() && !v.is_boolean()) invalid(path, "must be a schema, not " + preview(v));
          list.emplace_back(compile_regex(source, path), c.child(w, base, "patternProperties", source, true));
        }
        node().pattern_properties = std::move(list);
      }
      id = sub("additionalProperties");
      node().additional_properties = id;
      id = sub("propertyNames");
      node().property_names = id;
      if (const Json* deps = get("dependencies")) dependencies(*deps);
      auto all = subs("allOf");
      node().all_of = std::move(all);
      auto any = subs("anyOf");
      node().any_of = std::move(any);
      auto one = subs("oneOf");
      node().one_of = std::move(one);
      id = sub("not");
      node().not_ = id;
      id = sub("if");
      node().if_ = id;
      id = sub("then");
      node().then_ = id;
      id = sub("else");
      node().else_ = id;
      if (const Json* defs = get("definitions")) {
        if (!defs->is_object()) invalid(at("definitions"), "must be an object of schemas, not " + preview(*defs));
        for (const auto& [name, v] : defs->items()) {
          // Checked even when nothing refers to them: a broken definition is a broken schema.
          if (!v.is_object() && !v.is_boolean()) invalid(where_of("definitions", name), "must be a schema, not " + preview(v));
          c.child(w, base, "definitions", name, true);
        }
      }
    }

    void dependencies(const Json& deps) const {
      if (!deps.is_object()) invalid(at("dependencies"), "must be an object, not " + preview(deps));
      std::vector<Dependency> list;
      for (const auto& [name, v] : deps.items()) {
        std::string path = at("dependencies");
        append_pointer_token(path, name);
        Dependency d{name, {}, none};
        if (v.is_array()) {
          d.required = strings(v, path);
        } else if (v.is_object() || v.is_boolean()) {
          d.schema = c.child(w, base, "dependencies", name, true);
        } else {
          invalid(path, "must be an array of property names or a schema, not " + preview(v));
        }
        list.push_back(std::move(d));
      }
      c.out_.nodes[static_cast<std::size_t>(w.id)].dependencies = std::move(list);
    }
  };

  static Number to_number(const Json& v) {
    if (v.is_number_unsigned()) return static_cast<Number>(v.get<std::uint64_t>());
    if (v.is_number_integer()) return static_cast<Number>(v.get<std::int64_t>());
    return static_cast<Number>(v.get<double>());
  }

  std::vector<Doc> docs_;
  std::map<std::string, DocPos> resources_;  // absolute URI (no fragment) -> its schema
  std::map<std::string, DocPos> anchors_;    // URI "#name" -> its schema
  std::map<DocPos, Indexed> indexed_;
  std::map<DocPos, NodeId> ids_;
  std::deque<Work> work_;
  Compiled out_;
};

}  // namespace

Compiled compile(const Json& schema) { return Compiler().run(schema); }

}  // namespace plugvisor::detail::json_schema
