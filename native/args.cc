// The cold half of args.h: building error messages and throwing them, and making the shared
// memory the addon keeps pointers into. Nothing here runs per message.
#include "args.h"

#include <stdio.h>

namespace polled {

void Throw(napi_env env, bool range, const char* name, const char* what) {
  char msg[160];
  snprintf(msg, sizeof msg, "polled: \"%s\" must be %s", name, what);
  if (range) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  } else {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  }
}

void ThrowNotInt(napi_env env, const char* name, double lo, double hi) {
  char what[96];
  snprintf(what, sizeof what, "an integer in [%.0f, %.0f]", lo, hi);
  Throw(env, true, name, what);
}

bool CheckNotDetached(napi_env env, napi_value view, const char* name) {
  napi_value ab;
  bool detached = false;
  if (napi_get_typedarray_info(env, view, nullptr, nullptr, nullptr, &ab, nullptr) == napi_ok &&
      napi_is_detached_arraybuffer(env, ab, &detached) == napi_ok && !detached) {
    return true;
  }
  char msg[160];
  snprintf(msg, sizeof msg, "polled: \"%s\" is detached (its ArrayBuffer was transferred)", name);
  napi_throw_type_error(env, "ERR_INVALID_STATE", msg);
  return false;
}

// The events batch and the ioArgs block are written (or read) by the addon in one call and by JS
// in the next, so the addon keeps their data pointer. That is only sound for memory JavaScript can
// neither free nor move nor resize while the addon holds a reference: an ordinary ArrayBuffer (or
// an external one) can be transferred (structuredClone / postMessage with a transfer list
// detaches it and hands its memory to someone else) and a resizable one can shrink. A
// SharedArrayBuffer can do neither: a transfer throws at the attempt ("Found invalid object in
// transferList"), it cannot be detached, and a fixed-length one never changes size. Node-API (v8)
// has no call that makes one, so the global constructors do it, and the result is then checked
// with calls that run no JavaScript: a patched `globalThis.SharedArrayBuffer` yields an error,
// never an unsafe array. No JavaScript runs after the pointer is taken.
bool SharedView(napi_env env, const char* ctor_name, napi_typedarray_type want, size_t length,
                napi_value* out, void** data) {
  napi_value global, sab_ctor, view_ctor, bytes, sab, view, ab;
  size_t elem = want == napi_float64_array ? 8 : 4;
  napi_typedarray_type type;
  size_t got;
  bool is_plain = true;
  if (napi_get_global(env, &global) != napi_ok ||
      napi_get_named_property(env, global, "SharedArrayBuffer", &sab_ctor) != napi_ok ||
      napi_get_named_property(env, global, ctor_name, &view_ctor) != napi_ok ||
      napi_create_double(env, static_cast<double>(length * elem), &bytes) != napi_ok ||
      napi_new_instance(env, sab_ctor, 1, &bytes, &sab) != napi_ok ||
      napi_new_instance(env, view_ctor, 1, &sab, &view) != napi_ok) {
    return false;  // an exception is pending (or the env is going away)
  }
  // A real typed array of the right type and length whose buffer is not an ArrayBuffer: shared.
  if (napi_get_typedarray_info(env, view, &type, &got, data, &ab, nullptr) != napi_ok ||
      type != want || got != length || napi_is_arraybuffer(env, ab, &is_plain) != napi_ok ||
      is_plain) {
    napi_throw_error(env, "ERR_POLLED_SHARED_MEMORY",
                     "polled: SharedArrayBuffer did not make shared memory (is the global patched?)");
    return false;
  }
  *out = view;
  return true;
}

}  // namespace polled
