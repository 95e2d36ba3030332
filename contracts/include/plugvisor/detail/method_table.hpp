// Internal to plugvisor/contracts.hpp: the machinery that turns a contract's
// method table into wire encoding, typed wrappers and dispatch.
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>

namespace plugvisor::detail {

/// One entry of a contract's method table: the wire name and the member.
/// A method takes no argument or one; BytesView travels raw, anything else as
/// JSON (through nlohmann's to_json/from_json).
template <class C, class R, class... A>
struct MethodSpec {
  static_assert(sizeof...(A) <= 1, "a contract method takes at most one argument");
  using Class = C;
  using Result = R;
  using Args = std::tuple<std::decay_t<A>...>;

  std::string_view name;
  R (C::*fn)(A...);
};

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

inline Payload none_payload() { return Payload{Encoding::none, "{}"}; }

/// Encodes an argument or a result. Bytes are moved in when given as an
/// rvalue (a result); a BytesView is copied once, into the payload itself.
template <class T>
Payload encode(T&& value) {
  using U = std::remove_cvref_t<T>;
  if constexpr (encoding_of<U>() == Encoding::bytes) {
    return Payload{Encoding::bytes, Bytes(std::forward<T>(value))};
  } else {
    return Payload{Encoding::json, Json(value).dump()};
  }
}

/// Decodes a JSON payload into T; `what` names it in the error.
template <class T>
T decode_json(const Payload& payload, std::string_view what, ErrorCode on_error) {
  try {
    return Json::parse(payload.body).get<T>();
  } catch (const Json::exception& e) {
    throw Error(on_error, std::string(what) + " is not the JSON this method takes: " + e.what());
  }
}

template <class Spec, class C>
Payload call_spec(const Spec& spec, C& impl, const Payload& input) {
  using R = typename Spec::Result;
  auto invoke_with_input = [&]() -> decltype(auto) {
    if constexpr (std::tuple_size_v<typename Spec::Args> == 0) {
      return (impl.*spec.fn)();
    } else {
      using A = std::tuple_element_t<0, typename Spec::Args>;
      if constexpr (encoding_of<A>() == Encoding::bytes) {
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

template <class C>
Payload dispatch(C& impl, std::string_view method, const Payload& input) {
  std::optional<Payload> out;
  std::apply(
      [&](const auto&... spec) {
        ((!out && spec.name == method ? (out = call_spec(spec, impl, input), 0) : 0), ...);
      },
      ContractTraits<C>::methods);
  if (!out) {
    throw Error(ErrorCode::not_found, "contract " + std::string(ContractTraits<C>::name) +
                                          " has no method '" + std::string(method) + "'");
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

/// The table entry of `Member` in contract C's method table (compile-time).
template <class C, auto Member>
constexpr std::size_t method_index() {
  constexpr auto& methods = ContractTraits<C>::methods;
  std::size_t index = std::tuple_size_v<std::decay_t<decltype(methods)>>;
  std::size_t i = 0;
  std::apply(
      [&](const auto&... spec) {
        ((same_member(spec.fn, Member) ? (index = i, ++i) : ++i), ...);
      },
      methods);
  return index;
}

/// The shared half of every Remote<C>: holds the channel, encodes arguments
/// and decodes results by the method table.
template <class C>
class RemoteBase {
 public:
  explicit RemoteBase(std::shared_ptr<Channel> channel) : channel_(std::move(channel)) {}

 protected:
  template <auto Member, class... A>
  auto invoke(A&&... args) {
    constexpr std::size_t index = method_index<C, Member>();
    static_assert(index < std::tuple_size_v<std::decay_t<decltype(ContractTraits<C>::methods)>>,
                  "method is not declared in the contract's method table");
    constexpr auto& spec = std::get<index>(ContractTraits<C>::methods);
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
      return decode_json<R>(output, "the reply to " + std::string(spec.name), ErrorCode::bad_reply);
    }
  }

 private:
  std::shared_ptr<Channel> channel_;
};

}  // namespace plugvisor::detail
