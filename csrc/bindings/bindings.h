// One registration function per op file; module.cpp calls them all.
#pragma once

#include <pybind11/pybind11.h>

namespace deepemotion {
namespace bindings {

void bind_affine_grid_sample(pybind11::module_& m);
void bind_crop_faces(pybind11::module_& m);
void bind_build_info(pybind11::module_& m);
void bind_frame(pybind11::module_& m);

}  // namespace bindings
}  // namespace deepemotion
