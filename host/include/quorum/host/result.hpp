// Errors as values at module seams: Result<T> holds either a T or an Error
// {code, message}. No exception crosses a public function of the host; a
// refused plugin, a malformed result or an unknown handler name comes back as
// an Error whose message says what is wrong in words an operator can act on.
#pragma once

#include <quorum/host/assert.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace quorum {

// Broad classes of failure; the message carries the detail.
enum class ErrorCode {
  kNotFound,          // no such file, handler, version
  kInvalidArgument,   // a caller passed something malformed
  kIncompatible,      // a plugin that this host refuses to load (ABI, descriptor)
  kIo,                // reading, hashing or copying a file failed
  kLoadFailed,        // the dynamic loader refused the file
  kFailedPrecondition,// the operation is not allowed in the current state
  kResourceExhausted, // a bound was reached (versions per slot, ...)
  kPluginFailed,      // a plugin call failed or returned a malformed result
  kRejected,          // a handler refused the command (the message names it and why)
  kUnavailable,       // not serving now: an actor refusing service, a node starting or stopping
};

std::string_view to_string(ErrorCode code) noexcept;

struct Error {
  ErrorCode code;
  std::string message;
};

// Either a value or an Error. Accessing the wrong side is a programming error
// and trips an assertion.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    QUORUM_ASSERT(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    QUORUM_ASSERT(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    QUORUM_ASSERT(ok());
    return std::get<0>(std::move(state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    QUORUM_ASSERT(!ok());
    return std::get<1>(state_);
  }

 private:
  std::variant<T, Error> state_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const {
    QUORUM_ASSERT(!ok_);
    return error_;
  }

 private:
  Error error_{ErrorCode::kInvalidArgument, {}};
  bool ok_ = true;
};

using Status = Result<void>;

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace quorum
