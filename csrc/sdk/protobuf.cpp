#include "sdk/protobuf.h"

#include <stdexcept>

namespace deepemotion {
namespace pb {
namespace {

uint64_t read_varint(std::string_view buf, size_t& pos) {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= buf.size()) break;
    const auto b = static_cast<uint8_t>(buf[pos++]);
    value |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return value;
  }
  throw std::runtime_error("truncated or malformed varint");
}

void put_varint(std::string& out, uint64_t value) {
  do {
    auto b = static_cast<uint8_t>(value & 0x7F);
    value >>= 7;
    out.push_back(static_cast<char>(b | (value ? 0x80 : 0)));
  } while (value);
}

size_t payload_size(int wire, std::string_view buf, size_t& pos) {
  switch (wire) {
    case kVarint: {
      size_t end = pos;
      read_varint(buf, end);
      return end - pos;
    }
    case kI64: return 8;
    case kI32: return 4;
    case kLen: return static_cast<size_t>(read_varint(buf, pos));
    default: throw std::runtime_error("unsupported wire type " + std::to_string(wire));
  }
}

}  // namespace

std::vector<Field> parse(std::string_view buf) {
  std::vector<Field> fields;
  size_t pos = 0;
  while (pos < buf.size()) {
    const uint64_t key = read_varint(buf, pos);
    const auto number = static_cast<uint32_t>(key >> 3);
    const int wire = static_cast<int>(key & 7);
    if (number == 0) throw std::runtime_error("field number 0");
    const size_t size = payload_size(wire, buf, pos);
    if (size > buf.size() - pos) throw std::runtime_error("truncated message");
    fields.push_back(Field{number, wire, buf.substr(pos, size)});
    pos += size;
  }
  return fields;
}

uint64_t varint(std::string_view payload) {
  size_t pos = 0;
  return read_varint(payload, pos);
}

std::vector<int64_t> packed_ints(const std::vector<Field>& fields, uint32_t number) {
  std::vector<int64_t> out;
  for (const auto& f : fields) {
    if (f.number != number) continue;
    if (f.wire == kVarint) {
      out.push_back(static_cast<int64_t>(varint(f.payload)));
    } else if (f.wire == kLen) {
      for (size_t pos = 0; pos < f.payload.size();) out.push_back(static_cast<int64_t>(read_varint(f.payload, pos)));
    }
  }
  return out;
}

std::vector<std::string_view> sub(const std::vector<Field>& fields, uint32_t number) {
  std::vector<std::string_view> out;
  for (const auto& f : fields) {
    if (f.number == number && f.wire == kLen) out.push_back(f.payload);
  }
  return out;
}

std::string text(const std::vector<Field>& fields, uint32_t number) {
  const auto all = sub(fields, number);
  return all.empty() ? std::string() : std::string(all.front());
}

void write(std::string& out, uint32_t number, int wire, std::string_view payload) {
  put_varint(out, (static_cast<uint64_t>(number) << 3) | static_cast<uint64_t>(wire));
  if (wire == kLen) put_varint(out, payload.size());
  out.append(payload.data(), payload.size());
}

void write(std::string& out, const Field& f) { write(out, f.number, f.wire, f.payload); }

void write_varint_field(std::string& out, uint32_t number, uint64_t value) {
  put_varint(out, (static_cast<uint64_t>(number) << 3) | kVarint);
  put_varint(out, value);
}

}  // namespace pb
}  // namespace deepemotion
