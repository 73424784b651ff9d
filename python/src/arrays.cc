#include "arrays.h"

#include <nanobind/stl/string.h>

#include <cstring>
#include <string>

#include "losslab/core/error.h"

namespace losslab::python {
namespace {

DType to_dtype(nb::dlpack::dtype t) {
  using C = nb::dlpack::dtype_code;
  const auto code = C(t.code);
  if (t.lanes != 1) return DType::kUnknown;
  switch (code) {
    case C::Float:
      if (t.bits == 32) return DType::kFloat32;
      if (t.bits == 64) return DType::kFloat64;
      if (t.bits == 16) return DType::kFloat16;
      break;
    case C::Bfloat:
      if (t.bits == 16) return DType::kBFloat16;
      break;
    case C::Int:
      if (t.bits == 8) return DType::kInt8;
      if (t.bits == 16) return DType::kInt16;
      if (t.bits == 32) return DType::kInt32;
      if (t.bits == 64) return DType::kInt64;
      break;
    case C::UInt:
      if (t.bits == 8) return DType::kUInt8;
      if (t.bits == 16) return DType::kUInt16;
      if (t.bits == 32) return DType::kUInt32;
      if (t.bits == 64) return DType::kUInt64;
      break;
    case C::Bool:
      return DType::kBool;
    case C::Complex:
      return t.bits == 64 ? DType::kComplex64 : DType::kComplex128;
    default:
      break;
  }
  return DType::kUnknown;
}

nb::dlpack::dtype to_dlpack(DType d) {
  switch (d) {
    case DType::kFloat32:
      return nb::dtype<float>();
    case DType::kFloat64:
      return nb::dtype<double>();
    case DType::kInt64:
      return nb::dtype<int64_t>();
    case DType::kInt32:
      return nb::dtype<int32_t>();
    case DType::kBool:
      return nb::dtype<bool>();
    case DType::kFloat16:
      return nb::dlpack::dtype{uint8_t(nb::dlpack::dtype_code::Float), 16, 1};
    case DType::kBFloat16:  // allocated as uint16, then viewed (new_array)
      return nb::dtype<uint16_t>();
    default:
      break;
  }
  throw_type_error("losslab: cannot allocate an array of dtype " +
                   std::string(dtype_name(d)));
}

template <class A>
void fill_shape(const A& a, Shape& shape, Shape& strides) {
  bool contiguous = true;
  int64_t expect = 1;
  for (size_t i = a.ndim(); i-- > 0;) {
    if (a.shape(i) != 1 && a.stride(i) != expect) contiguous = false;
    expect *= int64_t(a.shape(i));
  }
  for (size_t i = 0; i < a.ndim(); ++i) shape.push_back(int64_t(a.shape(i)));
  if (!contiguous) {
    for (size_t i = 0; i < a.ndim(); ++i) strides.push_back(a.stride(i));
  }
}

std::string py_type_name(nb::handle h) {
  return nb::cast<std::string>(nb::str(h.type().attr("__name__")));
}

void check_device(std::string_view fn, std::string_view arg, int device) {
  if (device == nb::device::cpu::value) return;
  throw_type_error(std::string(fn) + ": " + std::string(arg) +
                   " is not on the CPU; losslab computes on the CPU: pass "
                   "tensor.cpu() (or a NumPy array)");
}

// A NumPy array of ml_dtypes.bfloat16 (no DLPack or buffer-protocol code for
// it exists): viewed as uint16 and tagged bfloat16 by the caller.
bool is_ml_dtypes_bf16(nb::handle h) {
  if (!nb::hasattr(h, "dtype") || !nb::hasattr(h, "view")) return false;
  nb::object np = nb::module_::import_("numpy");
  if (!nb::isinstance(h, np.attr("ndarray"))) return false;
  nb::object dt = h.attr("dtype");
  if (!nb::hasattr(dt, "name")) return false;
  nb::object name = dt.attr("name");
  return nb::isinstance<nb::str>(name) &&
         nb::cast<std::string>(name) == "bfloat16";
}

}  // namespace

Input to_input(std::string_view fn, std::string_view arg, nb::handle h) {
  Input in;
  if (h.is_none()) return in;
  if (is_ml_dtypes_bf16(h)) {
    nb::object np = nb::module_::import_("numpy");
    in.converted = h.attr("view")(np.attr("uint16"));
    if (!nb::try_cast(in.converted, in.array, false)) {
      throw_type_error(std::string(fn) + ": " + std::string(arg) +
                       " (an ml_dtypes.bfloat16 array) could not be read");
    }
    check_device(fn, arg, in.array.device_type());
    in.view.data = in.array.data();
    in.view.dtype = DType::kBFloat16;
    fill_shape(in.array, in.view.shape, in.view.strides);
    return in;
  }
  if (!nb::try_cast(h, in.array, false)) {
    nb::object np = nb::module_::import_("numpy");
    try {
      in.converted = np.attr("asarray")(h);
    } catch (nb::python_error&) {
      throw_type_error(std::string(fn) + ": " + std::string(arg) +
                       " must be an array (NumPy, or a tensor with DLPack); "
                       "got " +
                       py_type_name(h));
    }
    if (!nb::try_cast(in.converted, in.array, false)) {
      throw_type_error(std::string(fn) + ": " + std::string(arg) +
                       " must be a numeric array; got " + py_type_name(h) +
                       " that NumPy cannot convert to one");
    }
  }
  check_device(fn, arg, in.array.device_type());
  in.view.data = in.array.data();
  in.view.dtype = to_dtype(in.array.dtype());
  fill_shape(in.array, in.view.shape, in.view.strides);
  if (in.view.dtype == DType::kUnknown) {
    throw_type_error(std::string(fn) + ": " + std::string(arg) +
                     " has an unsupported dtype; expected float32 or float64");
  }
  return in;
}

Input to_required_input(std::string_view fn, std::string_view arg,
                        nb::handle h) {
  Input in = to_input(fn, arg, h);
  if (!in.view.present()) {
    throw_type_error(std::string(fn) + ": " + std::string(arg) +
                     " must be an array, not None");
  }
  return in;
}

Input to_grad_output(std::string_view fn, std::string_view arg, nb::handle h,
                     double* scalar, View* elementwise) {
  Input go;
  if (h.is_none()) return go;
  if (PyFloat_Check(h.ptr()) || PyLong_Check(h.ptr())) {
    *scalar = nb::cast<double>(h);
    return go;
  }
  go = to_input(fn, arg, h);
  if (go.view.shape.ndim() == 0) {
    *scalar = nb::cast<double>(nb::float_(h));
  } else {
    *elementwise = go.view;
  }
  return go;
}

Output to_output(std::string_view fn, std::string_view arg, nb::handle h) {
  Output o;
  if (h.is_none()) return o;
  if (is_ml_dtypes_bf16(h)) {
    nb::object np = nb::module_::import_("numpy");
    nb::object u16 = h.attr("view")(np.attr("uint16"));
    if (!nb::try_cast(u16, o.array, false)) {
      throw_type_error(std::string(fn) + ": " + std::string(arg) +
                       " (an ml_dtypes.bfloat16 array) must be writable");
    }
    o.object = nb::borrow(h);
    o.view.data = o.array.data();
    o.view.dtype = DType::kBFloat16;
    fill_shape(o.array, o.view.shape, o.view.strides);
    return o;
  }
  if (!nb::try_cast(h, o.array, false)) {
    throw_type_error(std::string(fn) + ": " + std::string(arg) +
                     " must be a writable array (e.g. numpy.empty_like("
                     "input)); got " +
                     py_type_name(h));
  }
  check_device(fn, arg, o.array.device_type());
  o.object = nb::borrow(h);
  o.view.data = o.array.data();
  o.view.dtype = to_dtype(o.array.dtype());
  fill_shape(o.array, o.view.shape, o.view.strides);
  return o;
}

DType grad_dtype_for(std::string_view fn, const std::string& grad_dtype,
                     DType dt) {
  if (grad_dtype != "input" && grad_dtype != "float32" &&
      grad_dtype != dtype_name(dt)) {
    throw_value_error(std::string(fn) +
                      ": grad_dtype must be \"input\" or \"float32\"; got \"" +
                      grad_dtype + "\"");
  }
  if (grad_dtype == "float32" && dt == DType::kFloat64) {
    throw_value_error(std::string(fn) +
                      ": grad_dtype=\"float32\" is for float16/bfloat16 "
                      "input (gradients of float64 input are float64)");
  }
  const bool half = dt == DType::kFloat16 || dt == DType::kBFloat16;
  return half && grad_dtype == "float32" ? DType::kFloat32 : dt;
}

nb::object new_array(const Shape& shape, DType dtype, void** data) {
  const size_t n = size_t(shape.numel());
  const size_t bytes = (n ? n : 1) * dtype_size(dtype);
  void* p = ::operator new(bytes);
  nb::capsule owner(p, [](void* q) noexcept { ::operator delete(q); });
  size_t dims[kMaxDims];
  for (int i = 0; i < shape.ndim(); ++i) dims[i] = size_t(shape[i]);
  nb::ndarray<nb::numpy> arr(p, size_t(shape.ndim()), dims, owner, nullptr,
                             to_dlpack(dtype));
  *data = p;
  nb::object obj = nb::cast(arr);
  if (dtype != DType::kBFloat16) return obj;
  try {
    nb::object ml = nb::module_::import_("ml_dtypes");
    return obj.attr("view")(ml.attr("bfloat16"));
  } catch (nb::python_error&) {
  }
  try {
    nb::object torch = nb::module_::import_("torch");
    return torch.attr("from_numpy")(obj).attr("view")(torch.attr("bfloat16"));
  } catch (nb::python_error&) {
  }
  throw_type_error(
      "losslab: returning a bfloat16 array needs ml_dtypes (pip install "
      "ml_dtypes) or torch; or pass grad_dtype=\"float32\"");
}

nb::object call_loss(std::string_view fn, nb::handle input, nb::handle target,
                     const CommonArgs& c, bool has_hess, const LossFn& loss) {
  const Input x = to_input(fn, "input", input);
  const Input y = to_input(fn, "target", target);
  const Input w = to_input(fn, "weight", c.weight);
  if (!x.view.present()) {
    throw_type_error(std::string(fn) + ": input must be an array, not None");
  }
  if (!y.view.present()) {
    throw_type_error(std::string(fn) + ": target must be an array, not None");
  }
  CallArgs args{w.view, parse_reduction(c.reduction, fn),
                parse_nan_policy(c.nan_policy, fn)};
  if (c.return_hess && !has_hess) {
    throw_value_error(std::string(fn) +
                      ": return_hess=True is only available for elementwise "
                      "losses");
  }
  const bool want_grad = c.return_grad || c.return_hess;
  LossOutputs outs;

  // Upstream gradient: a number for mean/sum, an array for none.
  const Input go =
      to_grad_output(fn, "grad_output", c.grad_output, &outs.grad_output,
                     &outs.grad_output_elementwise);

  // Outputs: the caller's arrays, or new NumPy arrays.
  const Output out_arg = to_output(fn, "out", c.out);
  const Output grad_arg = to_output(fn, "grad_out", c.grad_out);
  const Output hess_arg = to_output(fn, "hess_out", c.hess_out);
  const DType dt = x.view.dtype;
  const bool half = dt == DType::kFloat16 || dt == DType::kBFloat16;
  const bool typed = dt == DType::kFloat32 || dt == DType::kFloat64 || half;
  // grad / hess dtype: float32 on request for half input.
  const DType gdt = grad_dtype_for(fn, c.grad_dtype, dt);
  nb::object out_obj, grad_obj, hess_obj;
  auto prepare = [&](const Output& given, bool wanted, DType odt,
                     nb::object& obj, MutableView& mv) {
    if (given.view.present()) {
      obj = given.object;
      mv = given.view;
    } else if (wanted && typed) {
      void* p;
      obj = new_array(x.view.shape, odt, &p);
      mv = MutableView{p, odt, x.view.shape, {}};
    }
  };
  prepare(out_arg, args.reduction == Reduction::kNone, dt, out_obj, outs.out);
  prepare(grad_arg, want_grad, gdt, grad_obj, outs.grad_out);
  prepare(hess_arg, c.return_hess, gdt, hess_obj, outs.hess_out);

  double value;
  {
    nb::gil_scoped_release release;
    value = loss(x.view, y.view, args, outs);
  }
  nb::object loss_obj =
      args.reduction == Reduction::kNone ? out_obj : nb::float_(value);
  if (c.return_hess) return nb::make_tuple(loss_obj, grad_obj, hess_obj);
  if (c.return_grad) return nb::make_tuple(loss_obj, grad_obj);
  return loss_obj;
}

}  // namespace losslab::python
