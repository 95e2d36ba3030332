// The HTTP/1.1 codec on any bytes: request and response heads, and chunked
// bodies fed in pieces. Refusing is fine; crashing, overreading or a size
// past the input is a finding.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "plugvisor/wire/http1.hpp"

namespace http1 = plugvisor::detail::http1;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  http1::RequestHead request;
  auto parsed = http1::parse_request_head(text, request);
  if (parsed.state == http1::ParseResult::complete) {
    if (parsed.size > text.size()) std::abort();
    std::size_t seen = request.method.size() + request.target.size();
    for (const auto& header : request.headers) seen += header.name.size() + header.value.size();
    if (seen > text.size()) std::abort();
    for (auto segment : http1::split_path(http1::path_of(request.target))) seen += segment.size();
  }

  http1::ResponseHead response;
  auto answered = http1::parse_response_head(text, response);
  if (answered.state == http1::ParseResult::complete && answered.size > text.size()) std::abort();

  // A chunked body, fed in pieces whose sizes come from the first byte.
  http1::ChunkedDecoder decoder(1 << 16);
  std::string body;
  const std::size_t step = size > 0 ? data[0] % 13 + 1 : 1;
  for (std::size_t at = 0; at < text.size() && !decoder.done() && !decoder.failed(); at += step) {
    std::string_view piece = text.substr(at, step);
    std::size_t used = decoder.feed(piece, body);
    if (used > piece.size()) std::abort();
    if (used < piece.size() && !decoder.done() && !decoder.failed()) std::abort();
  }
  if (body.size() > (1 << 16)) std::abort();
  return 0;
}
