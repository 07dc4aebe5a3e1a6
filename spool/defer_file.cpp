// defer/<ID> files (see defer_file.h): strict text format, and the atomic replace through
// <spool>/tmp. Blocking POSIX I/O through file_util.h; errors are returned, never thrown or
// logged. The queue ID is validated before it becomes part of a path.
#include "spool/defer_file.h"

#include "common/ids.h"
#include "spool/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <charconv>

namespace labmta::spool {

namespace {

constexpr unsigned kDirMode = 0700;
constexpr unsigned kFileMode = 0600;
constexpr std::string_view kAttemptsKey = "attempts: ";
constexpr std::string_view kNextAttemptKey = "next-attempt: ";
constexpr std::string_view kRecipientKey = "recipient: ";
constexpr std::string_view kHexDigits = "0123456789ABCDEF";

bool needs_escape(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f || c == '%';
}

// Address and DSN fields are space-separated, so a space inside one is written as "%20".
std::string escape_field(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        if (needs_escape(c)) {
            const auto byte = static_cast<unsigned char>(c);
            out.push_back('%');
            out.push_back(kHexDigits[byte >> 4]);
            out.push_back(kHexDigits[byte & 0x0f]);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

std::optional<std::string> unescape_field(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out.push_back(text[i]);
            continue;
        }
        const int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
        const int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
        if (high < 0 || low < 0) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
    }
    return out;
}

// The reason is the rest of its line: a line break in it would end the record early.
std::string one_line(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c == '\r' || c == '\n') {
            c = ' ';
        }
    }
    return out;
}

template <typename Number>
std::optional<Number> parse_number(std::string_view text) {
    Number value{};
    if (text.empty() || text.front() < '0' || text.front() > '9') {
        return std::nullopt;  // from_chars would accept a leading "-" for signed types
    }
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// "<key><number>" into value; false when the line is anything else.
template <typename Number>
bool parse_field(std::string_view line, std::string_view key, Number& value) {
    if (!line.starts_with(key)) {
        return false;
    }
    const auto number = parse_number<Number>(line.substr(key.size()));
    value = number.value_or(0);
    return number.has_value();
}

// "<dsn> <address>[ <reason>]".
std::optional<DeferredRecipient> parse_recipient(std::string_view value) {
    const std::size_t dsn_end = value.find(' ');
    if (dsn_end == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view rest = value.substr(dsn_end + 1);
    const std::size_t address_end = rest.find(' ');
    auto dsn = unescape_field(value.substr(0, dsn_end));
    auto address = unescape_field(rest.substr(0, address_end));
    if (!dsn || !address) {
        return std::nullopt;
    }
    std::string reason;
    if (address_end != std::string_view::npos) {
        reason = std::string(rest.substr(address_end + 1));
    }
    return DeferredRecipient{std::move(*address), std::move(*dsn), std::move(reason)};
}

// Calls on_line for each LF-terminated line; false when text does not end in LF or on_line
// refuses a line.
template <typename OnLine>
bool for_each_line(std::string_view text, OnLine on_line) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos || !on_line(text.substr(pos, end - pos))) {
            return false;
        }
        pos = end + 1;
    }
    return true;
}

std::error_code invalid_id_error() {
    return std::make_error_code(std::errc::invalid_argument);
}

// A tmp name no other writer uses: never a valid queue ID, so Spool never mistakes it for a
// message, and unique per process and call.
std::string tmp_path_for(const std::string& spool_root, std::string_view queue_id) {
    static std::atomic<std::uint64_t> counter{0};
    return spool_root + "/tmp/defer." + std::string(queue_id) + "." + std::to_string(::getpid())
           + "." + std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

std::error_code write_synced(const std::string& path, std::string_view text) {
    std::error_code error;
    UniqueFd fd = open_file(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, kFileMode, error);
    if (error) {
        return error;
    }
    if (error = write_all(fd.get(), text); error) {
        return error;
    }
    if (::fsync(fd.get()) != 0) {
        return last_errno_error();
    }
    return fd.close();
}

}  // namespace

std::string serialize_defer_info(const DeferInfo& info) {
    std::string out;
    out.append(kAttemptsKey).append(std::to_string(info.attempts)).push_back('\n');
    out.append(kNextAttemptKey).append(std::to_string(info.next_attempt_us)).push_back('\n');
    for (const DeferredRecipient& recipient : info.recipients) {
        out.append(kRecipientKey);
        out.append(escape_field(recipient.dsn)).push_back(' ');
        out.append(escape_field(recipient.address));
        if (!recipient.reason.empty()) {
            out.push_back(' ');
            out.append(one_line(recipient.reason));
        }
        out.push_back('\n');
    }
    return out;
}

std::optional<DeferInfo> parse_defer_info(std::string_view text) {
    DeferInfo info;
    std::size_t line_number = 0;
    const bool ok = for_each_line(text, [&](std::string_view line) {
        switch (line_number++) {
            case 0:
                return parse_field(line, kAttemptsKey, info.attempts);
            case 1:
                return parse_field(line, kNextAttemptKey, info.next_attempt_us);
            default: {
                auto recipient = line.starts_with(kRecipientKey)
                                     ? parse_recipient(line.substr(kRecipientKey.size()))
                                     : std::nullopt;
                if (recipient) {
                    info.recipients.push_back(std::move(*recipient));
                }
                return recipient.has_value();
            }
        }
    });
    if (!ok || line_number < 2) {
        return std::nullopt;
    }
    return info;
}

std::string defer_dir(const std::string& spool_root) {
    return spool_root + "/defer";
}

std::error_code write_defer_info(const std::string& spool_root,
                                 std::string_view queue_id,
                                 const DeferInfo& info) {
    if (!common::is_valid_queue_id(queue_id)) {
        return invalid_id_error();
    }
    const std::string dir = defer_dir(spool_root);
    if (std::error_code error = make_dirs(dir, kDirMode); error) {
        return error;
    }
    if (std::error_code error = make_dirs(spool_root + "/tmp", kDirMode); error) {
        return error;
    }
    const std::string tmp_path = tmp_path_for(spool_root, queue_id);
    const std::string final_path = dir + "/" + std::string(queue_id);
    std::error_code error = write_synced(tmp_path, serialize_defer_info(info));
    if (!error && ::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
        error = last_errno_error();
    }
    if (error) {
        ::unlink(tmp_path.c_str());
        return error;
    }
    // The new content is in place either way; this only makes the rename survive a crash.
    return fsync_dir(dir);
}

std::optional<DeferInfo> read_defer_info(const std::string& spool_root, std::string_view queue_id) {
    if (!common::is_valid_queue_id(queue_id)) {
        return std::nullopt;
    }
    std::string text;
    if (read_file(defer_dir(spool_root) + "/" + std::string(queue_id), text)) {
        return std::nullopt;
    }
    return parse_defer_info(text);
}

std::error_code remove_defer_info(const std::string& spool_root, std::string_view queue_id) {
    if (!common::is_valid_queue_id(queue_id)) {
        return invalid_id_error();
    }
    const std::string dir = defer_dir(spool_root);
    if (::unlink((dir + "/" + std::string(queue_id)).c_str()) != 0) {
        const std::error_code error = last_errno_error();
        return error == std::errc::no_such_file_or_directory ? std::error_code{} : error;
    }
    return fsync_dir(dir);
}

}  // namespace labmta::spool
