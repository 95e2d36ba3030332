#include "lean_call.hpp"

#include <array>
#include <exception>

#include "call_broker.hpp"

namespace plugvisor::detail {

namespace {

// An answer's head and body in one write when the body is this small:
// one system call, and one segment on TCP.
constexpr std::size_t join_below = 256 * 1024;

// The call's names, when the path is /v1/call/{contract}/{type}/{method}.
std::optional<std::array<std::string_view, 3>> call_names(std::string_view target) {
  if (target.find('%') != std::string_view::npos) return std::nullopt;  // decoding stays cpp-httplib's
  auto parts = http1::split_path(http1::path_of(target));
  if (parts.size() != 5 || parts[0] != "v1" || parts[1] != "call") return std::nullopt;
  if (parts[2].empty() || parts[3].empty() || parts[4].empty()) return std::nullopt;
  return std::array<std::string_view, 3>{parts[2], parts[3], parts[4]};
}

bool write_all(BufferedStream& stream, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = stream.write(data, size);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_body(BufferedStream& stream, std::string& body, std::uint64_t length) {
  body.resize(static_cast<std::size_t>(length));  // the gate checked it against the limit
  for (std::size_t got = 0; got < body.size();) {
    ssize_t n = stream.read(body.data() + got, body.size() - got);
    if (n <= 0) return false;  // the client left, or sent nothing for the I/O timeout
    got += static_cast<std::size_t>(n);
  }
  return true;
}

bool write_answer(BufferedStream& stream, const BrokerAnswer& answer, bool keep_alive) {
  std::vector<http1::Header> fields{{"Content-Type", answer.content_type}};
  if (!answer.provider.empty()) fields.push_back({"X-Plugvisor-Provider", answer.provider});
  if (!keep_alive) fields.push_back({"Connection", "close"});
  std::string out;
  http1::append_response_head(out, answer.status, fields, answer.body.size());
  if (answer.body.size() < join_below) {
    out += answer.body;
    return write_all(stream, out.data(), out.size());
  }
  return write_all(stream, out.data(), out.size()) && write_all(stream, answer.body.data(), answer.body.size());
}

LeanRoute::Served serve(Manager& manager, const http1::RequestHead& head, BufferedStream& stream) {
  auto names = call_names(head.target);
  if (head.expect_continue) {
    static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
    if (!write_all(stream, go_on.data(), go_on.size())) return {};
  }
  BrokerRequest request{(*names)[0], (*names)[1], (*names)[2], head.get("Content-Type"),
                        head.has(protocol::deadline_header), head.get(protocol::deadline_header), {}};
  if (!read_body(stream, request.body, head.content_length)) return {};
  BrokerAnswer answer;
  try {
    answer = broker_call(manager, std::move(request));
  } catch (const std::exception& e) {
    answer = broker_error(ErrorCode::internal, std::string("the daemon failed on this request: ") + e.what(), 500);
  }
  if (!write_answer(stream, answer, head.keep_alive)) return {};
  return {head.keep_alive, answer.body.size()};
}

}  // namespace

LeanRoute lean_call_route(Manager& manager) {
  LeanRoute route;
  route.accepts = [](const http1::RequestHead& head) {
    return head.method == "POST" && head.minor_version == 1 && head.framing == http1::Framing::length &&
           !head.get("Content-Type").starts_with("multipart/form-data") && call_names(head.target).has_value();
  };
  route.serve = [&manager](const http1::RequestHead& head, BufferedStream& stream) {
    return serve(manager, head, stream);
  };
  return route;
}

}  // namespace plugvisor::detail
