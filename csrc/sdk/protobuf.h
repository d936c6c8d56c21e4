// The few pieces of the protobuf wire format that reading and trimming an ONNX file needs (onnx_split.cpp):
// a message is a list of fields (number, wire type, payload); every field not edited is written back as it was
// read, byte for byte. No protobuf library: the runtime has none, and the ONNX schema's field numbers are stable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace deepemotion {
namespace pb {

enum Wire : int { kVarint = 0, kI64 = 1, kLen = 2, kI32 = 5 };

struct Field {
  uint32_t number;
  int wire;
  std::string_view payload;  // a LEN field's content, else the value's own bytes
};

// The top-level fields of one message; std::runtime_error for bytes that are not a well-formed message.
std::vector<Field> parse(std::string_view buf);
uint64_t varint(std::string_view payload);
std::vector<int64_t> packed_ints(const std::vector<Field>& fields, uint32_t number);
std::vector<std::string_view> sub(const std::vector<Field>& fields, uint32_t number);  // LEN fields `number`
std::string text(const std::vector<Field>& fields, uint32_t number);                   // the first such, or ""

void write(std::string& out, uint32_t number, int wire, std::string_view payload);
void write(std::string& out, const Field& f);
void write_varint_field(std::string& out, uint32_t number, uint64_t value);

}  // namespace pb
}  // namespace deepemotion
