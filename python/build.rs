//! Sets PyO3's interpreter cfgs (`Py_3_14`, `Py_GIL_DISABLED`, `Py_LIMITED_API`, `PyPy`, ...) for
//! this crate too, so that the raw CPython fast paths (`src/raw.rs`) can take the interpreter's
//! exact build into account.

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
