/* SPDX-License-Identifier: MIT */
/* The Node.js addon of libsaq (SWIG 4.1, `swig -javascript -node`).
 *
 * Everything comes from the shared interface abi/saq.i; this file only names
 * the module. It adds no V8 code and no C callbacks: SWIG 4.1's JavaScript
 * back-end has none, and the asynchronous part of the binding is a pure-JS
 * pump over the completion queue's notification pipe (lib/engine.js). The raw
 * module (`saq_native`) is internal; lib/index.js is the public API.
 *
 * Generate with (scripts/gen.js does exactly this):
 *   swig -javascript -node -I../../abi -o src/saq_native_wrap.cxx saq_node.i
 */
%module saq_native
/* The generated wrapper is committed (packages install without SWIG); it
 * carries the project's license line: */
%begin %{
/* SPDX-License-Identifier: MIT */
%}

/* JavaScript null and undefined pass as a NULL `const char *` (SWIG's default
 * typemap refuses them), so optional text arguments of the C API (a job
 * result, an error text, cron options, map defaults) can be left out. */
%typemap(in) const char * (int res, char *buf = 0, int alloc = 0) {
  if ($input->IsNullOrUndefined()) {
    $1 = NULL;
  } else {
    res = SWIG_AsCharPtrAndSize($input, &buf, NULL, &alloc);
    if (!SWIG_IsOK(res)) {
      SWIG_exception_fail(SWIG_ArgError(res), "in method '$symname', argument $argnum of type '$type'");
    }
    $1 = ($1_ltype)buf;
  }
}
%typemap(freearg) const char * {
  if (alloc$argnum == SWIG_NEWOBJ) free((char *)buf$argnum);
}

%include "saq.i"
