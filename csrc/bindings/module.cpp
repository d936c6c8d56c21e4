// deepemotion._C: the C++ ops for Python. Each op binds itself in its own file; this only assembles them.
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "deepemotion C++ core: affine_grid_sample and crop_faces (CPU, and CUDA where built), the framing geometry, build information";
  deepemotion::bindings::bind_build_info(m);
  deepemotion::bindings::bind_affine_grid_sample(m);
  deepemotion::bindings::bind_crop_faces(m);
  deepemotion::bindings::bind_frame(m);
}
