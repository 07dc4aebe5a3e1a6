// Writing a string to a libuv stream: the bytes must outlive uv_write until its callback, so
// they travel in a heap request that the callback frees. Used by both connection kinds.
#pragma once

#include <uv.h>

#include <string>

namespace labmta::net {

// Called once per successful write_bytes(), with the owner given and libuv's status.
using WriteDone = void (*)(void* owner, int status);

// Starts writing bytes. Returns uv_write's error code: on an error nothing is pending and done
// is never called.
int write_bytes(uv_stream_t* stream, std::string bytes, void* owner, WriteDone done);

}  // namespace labmta::net
