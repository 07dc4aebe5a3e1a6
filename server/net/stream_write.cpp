// See stream_write.h.
#include "server/net/stream_write.h"

#include <memory>

namespace labmta::net {
namespace {

struct WriteRequest {
    uv_write_t request{};
    std::string bytes;
    void* owner = nullptr;
    WriteDone done = nullptr;
};

void on_written(uv_write_t* request, int status) {
    // uv_write_t is the first member, so the request is the WriteRequest.
    const std::unique_ptr<WriteRequest> owned(reinterpret_cast<WriteRequest*>(request));
    owned->done(owned->owner, status);
}

}  // namespace

WriteResult write_bytes(uv_stream_t* stream, std::string bytes, void* owner, WriteDone done) {
    // uv_try_write refuses (UV_EAGAIN) while earlier writes are queued, so order is kept.
    uv_buf_t buffer = uv_buf_init(bytes.data(), bytes.size());
    const int written = uv_try_write(stream, &buffer, 1);
    if (written == static_cast<int>(bytes.size())) {
        return {};
    }
    if (written < 0 && written != UV_EAGAIN) {
        return {written, false};
    }
    if (written > 0) {
        bytes.erase(0, static_cast<std::size_t>(written));
    }
    auto request = std::make_unique<WriteRequest>();
    request->bytes = std::move(bytes);
    request->owner = owner;
    request->done = done;
    buffer = uv_buf_init(request->bytes.data(), request->bytes.size());
    const int rc = uv_write(&request->request, stream, &buffer, 1, &on_written);
    if (rc != 0) {
        return {rc, false};
    }
    request.release();  // owned by libuv until on_written
    return {0, true};
}

}  // namespace labmta::net
