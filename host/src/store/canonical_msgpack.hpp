// Internal: the canonical msgpack subset the store writes and reads.
//
// Canonical means "the shortest encoding", the form msgpack-c's packer
// produces: a non-negative integer always as an unsigned form, a negative one
// as the smallest signed form, str8/bin8 for lengths under 256, and so on.
// The reader accepts only canonical encodings, so a value has exactly one
// byte representation and hashing the bytes is the same as hashing the value.
// The reader never reads past its input and never allocates.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace quorum::store::detail {

// ---- writing ----
void put_be64(std::string& out, uint64_t value);
void put_be32(std::string& out, uint32_t value);
uint64_t get_be64(const char* bytes) noexcept;
uint32_t get_be32(const char* bytes) noexcept;

void write_uint(std::string& out, uint64_t value);
void write_int(std::string& out, int64_t value);
void write_str(std::string& out, std::string_view value);
void write_bin(std::string& out, std::string_view value);
void write_array_header(std::string& out, uint32_t count);

// ---- reading ----
// A cursor over bytes; every read returns false (and leaves the error text)
// on truncated or non-canonical input.
class CanonicalReader {
 public:
  explicit CanonicalReader(std::string_view bytes) noexcept : bytes_(bytes) {}

  bool read_uint(uint64_t& value);
  bool read_int(int64_t& value);
  bool read_str(std::string_view& value);
  bool read_bin(std::string_view& value);
  bool read_array_header(uint32_t& count);

  bool at_end() const noexcept { return position_ == bytes_.size(); }
  size_t position() const noexcept { return position_; }
  const char* error() const noexcept { return error_; }

 private:
  bool fail(const char* why) noexcept {
    error_ = why;
    return false;
  }
  bool take(size_t count, const char*& start) noexcept;
  bool read_length_prefixed(uint8_t tag_8, uint8_t tag_16, uint8_t tag_32, uint8_t fix_base, uint32_t fix_max,
                            std::string_view& value, const char* what);

  std::string_view bytes_;
  size_t position_ = 0;
  const char* error_ = "";
};

// True if `bytes` is exactly one well-formed msgpack value (any encoding, any
// type), nested at most max_depth deep. Never allocates.
bool is_one_msgpack_value(std::string_view bytes, int max_depth = 64) noexcept;

}  // namespace quorum::store::detail
