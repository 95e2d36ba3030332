// Internal to plugvisor/contracts.hpp: PLUGVISOR_CONTRACT, which declares a
// contract's method table once and generates from it the typed wrapper, the
// dispatch and the description (see docs/contracts.md).
#pragma once

// Applies M(DATA, elements of X) to each parenthesised X of a list (up to 32).
#define PLUGVISOR_DETAIL_EXPAND(...) __VA_ARGS__
#define PLUGVISOR_DETAIL_APPLY(M, ARGS) M ARGS
#define PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_APPLY(M, (D, PLUGVISOR_DETAIL_EXPAND X))
#define PLUGVISOR_DETAIL_FE1(M, D, X) PLUGVISOR_DETAIL_ONE(M, D, X)
#define PLUGVISOR_DETAIL_FE2(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE1(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE3(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE2(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE4(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE3(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE5(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE4(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE6(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE5(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE7(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE6(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE8(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE7(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE9(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE8(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE10(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE9(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE11(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE10(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE12(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE11(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE13(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE12(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE14(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE13(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE15(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE14(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE16(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE15(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE17(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE16(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE18(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE17(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE19(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE18(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE20(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE19(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE21(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE20(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE22(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE21(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE23(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE22(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE24(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE23(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE25(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE24(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE26(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE25(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE27(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE26(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE28(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE27(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE29(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE28(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE30(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE29(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE31(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE30(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_FE32(M, D, X, ...) PLUGVISOR_DETAIL_ONE(M, D, X) PLUGVISOR_DETAIL_FE31(M, D, __VA_ARGS__)
#define PLUGVISOR_DETAIL_PICK(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, _19,   \
                              _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32, NAME, ...)             \
  NAME
#define PLUGVISOR_DETAIL_FOR_EACH(M, D, ...)                                                                         \
  __VA_OPT__(PLUGVISOR_DETAIL_PICK(__VA_ARGS__, PLUGVISOR_DETAIL_FE32, PLUGVISOR_DETAIL_FE31, PLUGVISOR_DETAIL_FE30, \
                                   PLUGVISOR_DETAIL_FE29, PLUGVISOR_DETAIL_FE28, PLUGVISOR_DETAIL_FE27,               \
                                   PLUGVISOR_DETAIL_FE26, PLUGVISOR_DETAIL_FE25, PLUGVISOR_DETAIL_FE24,               \
                                   PLUGVISOR_DETAIL_FE23, PLUGVISOR_DETAIL_FE22, PLUGVISOR_DETAIL_FE21,               \
                                   PLUGVISOR_DETAIL_FE20, PLUGVISOR_DETAIL_FE19, PLUGVISOR_DETAIL_FE18,               \
                                   PLUGVISOR_DETAIL_FE17, PLUGVISOR_DETAIL_FE16, PLUGVISOR_DETAIL_FE15,               \
                                   PLUGVISOR_DETAIL_FE14, PLUGVISOR_DETAIL_FE13, PLUGVISOR_DETAIL_FE12,               \
                                   PLUGVISOR_DETAIL_FE11, PLUGVISOR_DETAIL_FE10, PLUGVISOR_DETAIL_FE9,                \
                                   PLUGVISOR_DETAIL_FE8, PLUGVISOR_DETAIL_FE7, PLUGVISOR_DETAIL_FE6,                  \
                                   PLUGVISOR_DETAIL_FE5, PLUGVISOR_DETAIL_FE4, PLUGVISOR_DETAIL_FE3,                  \
                                   PLUGVISOR_DETAIL_FE2, PLUGVISOR_DETAIL_FE1)(M, D, __VA_ARGS__))

// One table entry: (member, "wireName" [, {MethodOptions...}]).
#define PLUGVISOR_DETAIL_SPEC(TYPE, MEMBER, WIRE, ...) \
  ::plugvisor::detail::MethodSpec{WIRE, &TYPE::MEMBER __VA_OPT__(, ::plugvisor::MethodOptions __VA_ARGS__)},

// One forwarder: overrides MEMBER with the exact signature the interface
// declares (taken from the member pointer) and calls the table entry.
#define PLUGVISOR_DETAIL_FORWARDER(TYPE, MEMBER, WIRE, ...)                                                \
  template <class Base, class R, class... A>                                                               \
  struct Forward_##MEMBER : Base {                                                                         \
    using Base::Base;                                                                                      \
    R MEMBER(A... a) override {                                                                            \
      constexpr std::size_t index = ::plugvisor::detail::method_index(PlugvisorContract_##TYPE::methods, WIRE); \
      return this->template invoke<index>(std::forward<A>(a)...);                                          \
    }                                                                                                      \
  };                                                                                                       \
  template <class Base>                                                                                    \
  using Forwarder_##MEMBER =                                                                               \
      typename ::plugvisor::detail::Signature<decltype(&TYPE::MEMBER)>::template bind<Forward_##MEMBER, Base>;

#define PLUGVISOR_DETAIL_FORWARDER_NAME(TYPE, MEMBER, ...) , Forwarder_##MEMBER

/// Declares contract TYPE (a class deriving from plugvisor::PluginBase, whose
/// methods are non-const virtual functions taking zero or one argument) under
/// the wire name WIRE_NAME, at VERSION (a breaking change is a new version),
/// with DESCRIPTION and its method table: one (member, "wireName") or
/// (member, "wireName", {.description = ..., .input_schema = ..., .output_schema = ...})
/// per method; `ping` (from pluginBase) is always included. Use it at
/// namespace scope, in TYPE's namespace, with TYPE's unqualified name.
///
///   PLUGVISOR_CONTRACT(Greeter, "greeter", 1, "Greets people",
///                      (greet, "greet"), (languages, "languages"));
///
/// The typed wrapper (plugvisor::Remote<Greeter>), the plugin-side dispatch
/// and the description all come from this one table: a pure virtual method
/// missing from it, or an entry naming no method of TYPE, does not compile.
#define PLUGVISOR_CONTRACT(TYPE, WIRE_NAME, VERSION, DESCRIPTION, ...)                                           \
  struct PlugvisorContract_##TYPE {                                                                              \
    using Contract = TYPE;                                                                                       \
    static constexpr std::string_view name = WIRE_NAME;                                                          \
    static constexpr int version = VERSION;                                                                      \
    static constexpr std::string_view description = DESCRIPTION;                                                 \
    static constexpr std::string_view cpp_type = #TYPE;                                                          \
    static constexpr auto methods =                                                                              \
        std::tuple_cat(std::tuple{::plugvisor::detail::MethodSpec{"ping", &::plugvisor::PluginBase::ping}},      \
                       std::tuple{PLUGVISOR_DETAIL_FOR_EACH(PLUGVISOR_DETAIL_SPEC, TYPE, __VA_ARGS__)});         \
    static_assert(std::is_base_of_v<::plugvisor::PluginBase, TYPE>, #TYPE " must derive from plugvisor::PluginBase"); \
    static_assert(::plugvisor::protocol::is_valid_name(name),                                                    \
                  "the wire name of " #TYPE " must be a name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}");                 \
    static_assert(VERSION >= 1, "a contract's version starts at 1");                                             \
    static_assert(!::plugvisor::detail::has_duplicate_names(methods), #TYPE " lists a wire name twice");          \
    PLUGVISOR_DETAIL_FOR_EACH(PLUGVISOR_DETAIL_FORWARDER, TYPE, __VA_ARGS__)                                      \
    using Remote = ::plugvisor::detail::RemoteOf<typename ::plugvisor::detail::Stack<                            \
        ::plugvisor::detail::RemoteRoot<TYPE, PlugvisorContract_##TYPE>,                                         \
        ::plugvisor::detail::PingForwarder PLUGVISOR_DETAIL_FOR_EACH(PLUGVISOR_DETAIL_FORWARDER_NAME, TYPE,       \
                                                                     __VA_ARGS__)>::type>;                       \
  };                                                                                                             \
  PlugvisorContract_##TYPE plugvisor_contract_of(::plugvisor::detail::Tag<TYPE>)

/// Declares the JSON Schema (as JSON text) of a C++ type that travels as JSON,
/// for the descriptions of the methods that take or return it. Use it in
/// TYPE's namespace.
#define PLUGVISOR_JSON_SCHEMA(TYPE, SCHEMA_TEXT) \
  inline constexpr std::string_view plugvisor_json_schema(::plugvisor::detail::Tag<TYPE>) { return SCHEMA_TEXT; }
