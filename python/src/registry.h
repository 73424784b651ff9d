// Each binding file registers its bind function with a static Registrar, so
// a new loss family adds a file, not lines in module.cc. Bind functions run in
// name order at import (deterministic; names are unique).
#ifndef LOSSLAB_PYTHON_REGISTRY_H_
#define LOSSLAB_PYTHON_REGISTRY_H_

#include <nanobind/nanobind.h>

#include <map>
#include <string>

namespace losslab::python {

using BindFn = void (*)(nanobind::module_&);

inline std::map<std::string, BindFn>& registry() {
  static std::map<std::string, BindFn> r;
  return r;
}

struct Registrar {
  Registrar(const char* name, BindFn fn) { registry().emplace(name, fn); }
};

}  // namespace losslab::python

#define LOSSLAB_PY_REGISTER(name, fn) \
  static ::losslab::python::Registrar losslab_py_registrar_##name(#name, fn)

#endif  // LOSSLAB_PYTHON_REGISTRY_H_
