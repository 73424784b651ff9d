// losslab/core/error.h: the one exception type losslab throws.
//
// Every message names the function, the argument, what was given, what was
// expected and the likely fix, e.g.
//   huber_loss: input shape (32, 1) does not match target shape (32,); pass
//   arrays of the same shape (losslab never broadcasts implicitly)
#ifndef LOSSLAB_CORE_ERROR_H_
#define LOSSLAB_CORE_ERROR_H_

#include <stdexcept>
#include <string>

namespace losslab {

enum class ErrorKind {
  kValue,  // bad shape or value -> Python ValueError
  kType,   // bad dtype or argument type -> Python TypeError
};

class Error : public std::invalid_argument {
 public:
  Error(ErrorKind kind, const std::string& message)
      : std::invalid_argument(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] void throw_value_error(const std::string& message);
[[noreturn]] void throw_type_error(const std::string& message);

}  // namespace losslab

#endif  // LOSSLAB_CORE_ERROR_H_
