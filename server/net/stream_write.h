// Writing a string to a libuv stream. Most replies fit in the socket's buffer, so the bytes are
// first written at once (uv_try_write: no request, no callback, no epoll change); only what
// does not fit is queued with uv_write, in a heap request that outlives the call until its
// callback frees it. Used by both connection kinds.
#pragma once

#include <uv.h>

#include <string>

namespace labmta::net {

// Called once for each write_bytes() that left bytes pending, with the owner and libuv's status.
using WriteDone = void (*)(void* owner, int status);

// What write_bytes() did: error is libuv's error code (nothing is pending then); otherwise
// pending tells whether part of the bytes waits in libuv's queue, and so whether done will be
// called.
struct WriteResult {
    int error = 0;
    bool pending = false;
};

// Writes bytes after anything already queued on stream.
WriteResult write_bytes(uv_stream_t* stream, std::string bytes, void* owner, WriteDone done);

}  // namespace labmta::net
