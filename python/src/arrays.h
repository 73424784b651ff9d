// Conversions between Python array objects (NumPy, anything with DLPack such
// as torch CPU tensors) and losslab views, plus the calling convention that
// every loss binding shares. No math lives here.
#ifndef LOSSLAB_PYTHON_ARRAYS_H_
#define LOSSLAB_PYTHON_ARRAYS_H_

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <functional>
#include <string>
#include <string_view>

#include "losslab/core/reduction.h"
#include "losslab/core/view.h"
#include "losslab/losses/common.h"

namespace losslab::python {

namespace nb = nanobind;

using InArray = nb::ndarray<nb::ro>;
using OutArray = nb::ndarray<>;

// A read-only view of a Python array, keeping the array alive. `None` gives
// an absent view. Lists and scalars go through numpy.asarray first.
struct Input {
  InArray array;
  nb::object converted;  // keeps a numpy.asarray() result alive
  View view;
};
Input to_input(std::string_view fn, std::string_view arg, nb::handle h);

// Like to_input, but None is a TypeError naming the argument.
Input to_required_input(std::string_view fn, std::string_view arg,
                        nb::handle h);

// The upstream gradient `arg`: None leaves *scalar and *elementwise as they
// are; a number (or a 0-d array) sets *scalar; an array sets *elementwise,
// kept alive by the returned Input.
Input to_grad_output(std::string_view fn, std::string_view arg, nb::handle h,
                     double* scalar, View* elementwise);

// A writable view of a caller-owned output array (None: absent).
struct Output {
  OutArray array;
  nb::object object;
  MutableView view;
};
Output to_output(std::string_view fn, std::string_view arg, nb::handle h);

// A new NumPy array of the given shape and dtype, owned by a capsule.
// float16 is NumPy's float16. NumPy has no bfloat16: a bfloat16 array is an
// ml_dtypes.bfloat16 NumPy array when ml_dtypes is installed, else a torch
// tensor (torch.bfloat16) sharing the buffer, else a TypeError that says to
// install ml_dtypes or pass grad_dtype="float32".
nb::object new_array(const Shape& shape, DType dtype, void** data);

// The dtype of a new gradient array: the input's, or float32 on request
// (grad_dtype="float32") for float16/bfloat16 input. Checks grad_dtype
// ("input", "float32" or the input's dtype name).
DType grad_dtype_for(std::string_view fn, const std::string& grad_dtype,
                     DType dt);

// The keyword arguments every loss shares, as written in Python.
struct CommonArgs {
  nb::object weight;
  std::string reduction;
  bool return_grad;
  bool return_hess;
  nb::object out, grad_out, hess_out, grad_output;
  std::string nan_policy;
  // dtype of the returned grad / hess for float16/bfloat16 input: "input"
  // (the input dtype, default) or "float32".
  std::string grad_dtype = "input";
};

// What a binding passes to its C++ loss.
struct CallArgs {
  View weight;
  Reduction reduction;
  NanPolicy nan_policy;
};

using LossFn =
    std::function<double(const View& input, const View& target,
                         const CallArgs& args, const LossOutputs& outputs)>;

// Runs a loss of the shape f(input, target, ...) with the shared Python
// conventions: allocation of out / grad / hess, the upstream gradient, the
// GIL released around the kernel, and the (loss[, grad[, hess]]) result.
nb::object call_loss(std::string_view fn, nb::handle input, nb::handle target,
                     const CommonArgs& common, bool has_hess,
                     const LossFn& loss);

}  // namespace losslab::python

// The shared keyword-only parameters, for m.def(...) of every loss.
#define LOSSLAB_PY_COMMON_PARAMS                              \
  nb::object weight, std::string reduction, bool return_grad, \
      bool return_hess, nb::object out, nb::object grad_out,  \
      nb::object hess_out, nb::object grad_output, std::string nan_policy
#define LOSSLAB_PY_COMMON_ARGS                                           \
  nb::arg("weight") = nb::none(), nb::arg("reduction") = "mean",         \
  nb::arg("return_grad") = false, nb::arg("return_hess") = false,        \
  nb::arg("out") = nb::none(), nb::arg("grad_out") = nb::none(),         \
  nb::arg("hess_out") = nb::none(), nb::arg("grad_output") = nb::none(), \
  nb::arg("nan_policy") = "propagate"
#define LOSSLAB_PY_COMMON_VALUES                                          \
  ::losslab::python::CommonArgs {                                         \
    weight, reduction, return_grad, return_hess, out, grad_out, hess_out, \
        grad_output, nan_policy                                           \
  }

#endif  // LOSSLAB_PYTHON_ARRAYS_H_
