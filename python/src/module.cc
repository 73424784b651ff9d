// The losslab._core extension module: threads, SIMD targets, errors, and one
// registered bind function per loss family.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "losslab/core/dispatch.h"
#include "losslab/core/error.h"
#include "losslab/core/parallel.h"
#include "losslab/version.h"
#include "registry.h"

namespace nb = nanobind;

NB_MODULE(_core, m) {
  m.doc() = "losslab native core: loss kernels with exact gradients.";
  m.attr("__version__") = LOSSLAB_VERSION_STRING;

  // losslab::Error -> ValueError (bad shape or value) / TypeError (dtype).
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const losslab::Error& e) {
      PyErr_SetString(e.kind() == losslab::ErrorKind::kType ? PyExc_TypeError
                                                            : PyExc_ValueError,
                      e.what());
    }
  });

  m.def("set_num_threads", &losslab::set_num_threads, nb::arg("n"),
        "Number of threads losslab kernels use (0 restores the default: "
        "LOSSLAB_NUM_THREADS or the hardware concurrency). Results are "
        "bitwise identical for any thread count.");
  m.def("get_num_threads", &losslab::get_num_threads,
        "Number of threads losslab kernels use.");
  m.def("simd_target", &losslab::simd_target,
        "The SIMD target kernels run on now ('avx3', 'avx2', 'sse4', ... or "
        "'scalar' for the reference kernels).");
  m.def("available_simd_targets", &losslab::available_simd_targets,
        "Targets compiled into this build and supported by this CPU, best "
        "first, then 'scalar'.");
  m.def("set_simd_target", &losslab::set_simd_target, nb::arg("name"),
        "Select a SIMD target by name, 'scalar' for the reference kernels, or "
        "'auto'. The environment variable LOSSLAB_FORCE_TARGET sets the "
        "initial choice.");

  // Every family's bindings (python/src/<family>.cc, LOSSLAB_PY_REGISTER).
  for (const auto& [name, bind] : losslab::python::registry()) bind(m);
}
