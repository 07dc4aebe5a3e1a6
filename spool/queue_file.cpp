// Queue file text format (see queue_file.h): formatting and strict parsing of the version-1
// envelope header. Pure, no I/O. Header values may hold any byte except LF, so serialize
// replaces an LF in a value with a space rather than let it forge another header line.
#include "spool/queue_file.h"

#include "common/ids.h"

#include <array>
#include <charconv>

namespace labmta::spool {

namespace {

constexpr std::string_view kVersion = "1";
constexpr std::string_view kRecipientKey = "recipient";
constexpr std::string_view kTodo = "todo";
constexpr std::string_view kDone = "done";

// The single-valued fields after "version", in the order serialize writes them.
enum Field { kQueueId, kArrival, kSender, kHelo, kProtocol, kClient, kAuthUser, kFieldCount };
constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "queue-id", "arrival", "sender", "helo", "protocol", "client", "auth-user"};

// "key: value", or "key:" when the value is empty; any LF in the value becomes a space.
void append_field(std::string& out, std::string_view key, std::string_view value) {
    out.append(key);
    out.push_back(':');
    if (!value.empty()) {
        out.push_back(' ');
        for (const char c : value) {
            out.push_back(c == '\n' ? ' ' : c);
        }
    }
    out.push_back('\n');
}

struct HeaderLine {
    std::string_view key;
    std::string_view value;
};

// Splits "key: value" (the single space after the colon is optional and not part of value).
std::optional<HeaderLine> split_line(std::string_view line) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return std::nullopt;
    }
    std::string_view value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
    }
    return HeaderLine{line.substr(0, colon), value};
}

std::optional<std::int64_t> parse_arrival(std::string_view text) {
    std::int64_t value = 0;
    if (text.empty() || text.front() < '0' || text.front() > '9') {
        return std::nullopt;  // from_chars would accept a leading "-"
    }
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// "host[ip]": the ip is what follows the last "[".
bool parse_client(std::string_view text, common::Envelope& envelope) {
    const std::size_t open = text.rfind('[');
    if (open == std::string_view::npos || text.empty() || text.back() != ']') {
        return false;
    }
    envelope.client_host = std::string(text.substr(0, open));
    envelope.client_ip = std::string(text.substr(open + 1, text.size() - open - 2));
    return true;
}

// "todo <address>" or "done <address>".
bool parse_recipient(std::string_view value, QueueFile& file) {
    if (value.size() < kTodo.size() + 1 || value[kTodo.size()] != ' ') {
        return false;
    }
    const std::string_view status = value.substr(0, kTodo.size());
    if (status != kTodo && status != kDone) {
        return false;
    }
    file.envelope.recipients.emplace_back(value.substr(kTodo.size() + 1));
    file.delivered.push_back(status == kDone);
    return true;
}

bool store_field(Field field, std::string_view value, QueueFile& file) {
    common::Envelope& envelope = file.envelope;
    switch (field) {
        case kQueueId:
            file.queue_id = std::string(value);
            return common::is_valid_queue_id(value);
        case kArrival: {
            const auto arrival = parse_arrival(value);
            file.arrival_us = arrival.value_or(0);
            return arrival.has_value();
        }
        case kSender:
            envelope.sender = std::string(value);
            return true;
        case kHelo:
            envelope.helo = std::string(value);
            return true;
        case kProtocol:
            envelope.protocol = std::string(value);
            return true;
        case kClient:
            return parse_client(value, envelope);
        case kAuthUser:
            envelope.auth_user = std::string(value);
            return true;
        case kFieldCount:
            break;
    }
    return false;
}

// Handles one envelope header line after "version"; false on anything unexpected.
bool parse_header_line(const HeaderLine& line,
                       QueueFile& file,
                       std::array<bool, kFieldCount>& seen) {
    if (line.key == kRecipientKey) {
        return parse_recipient(line.value, file);
    }
    for (int field = 0; field < kFieldCount; ++field) {
        if (line.key == kFieldNames[static_cast<std::size_t>(field)]) {
            bool& was_seen = seen[static_cast<std::size_t>(field)];
            if (was_seen) {
                return false;  // a duplicate field is as suspect as a missing one
            }
            was_seen = true;
            return store_field(static_cast<Field>(field), line.value, file);
        }
    }
    return false;  // unknown key: a newer format this version does not understand
}

// Calls on_line(line, line_offset) for each envelope header line up to the blank line and
// returns the offset of the message; nullopt when a line stops short or there is no blank line.
template <typename OnLine>
std::optional<std::size_t> walk_header(std::string_view text, OnLine on_line) {
    std::size_t pos = 0;
    for (;;) {
        const std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            return std::nullopt;
        }
        if (end == pos) {
            return end + 1;
        }
        if (!on_line(text.substr(pos, end - pos), pos)) {
            return std::nullopt;
        }
        pos = end + 1;
    }
}

}  // namespace

std::string serialize_queue_file(const QueueFile& file) {
    const common::Envelope& envelope = file.envelope;
    std::string out;
    out.reserve(file.message.size() + 512);
    append_field(out, "version", kVersion);
    append_field(out, kFieldNames[kQueueId], file.queue_id);
    append_field(out, kFieldNames[kArrival], std::to_string(file.arrival_us));
    append_field(out, kFieldNames[kSender], envelope.sender);
    append_field(out, kFieldNames[kHelo], envelope.helo);
    append_field(out, kFieldNames[kProtocol], envelope.protocol);
    append_field(out, kFieldNames[kClient], envelope.client_host + "[" + envelope.client_ip + "]");
    append_field(out, kFieldNames[kAuthUser], envelope.auth_user);
    for (std::size_t i = 0; i < envelope.recipients.size(); ++i) {
        const bool done = i < file.delivered.size() && file.delivered[i];
        // Always "status address", even for an empty address, so the status word is at a
        // fixed place on the line.
        const std::string value = std::string(done ? kDone : kTodo) + " " + envelope.recipients[i];
        append_field(out, kRecipientKey, value);
    }
    out.push_back('\n');
    out.append(file.message);
    return out;
}

std::optional<QueueFile> parse_queue_file(std::string_view text) {
    QueueFile file;
    std::array<bool, kFieldCount> seen{};
    bool version_seen = false;
    const auto body = walk_header(text, [&](std::string_view raw, std::size_t) {
        const auto line = split_line(raw);
        if (!line) {
            return false;
        }
        if (!version_seen) {
            version_seen = true;  // "version" must come first: it says how to read the rest
            return line->key == "version" && line->value == kVersion;
        }
        return parse_header_line(*line, file, seen);
    });
    if (!body || !version_seen) {
        return std::nullopt;
    }
    for (const bool was_seen : seen) {
        if (!was_seen) {
            return std::nullopt;
        }
    }
    file.message = std::string(text.substr(*body));
    return file;
}

std::optional<std::size_t> recipient_status_offset(std::string_view text, std::size_t index) {
    constexpr std::string_view kPrefix = "recipient: ";
    std::size_t seen = 0;
    std::optional<std::size_t> found;
    const auto body = walk_header(text, [&](std::string_view line, std::size_t offset) {
        if (!line.starts_with(kPrefix) || seen++ != index) {
            return true;
        }
        const std::string_view status = line.substr(kPrefix.size(), kTodo.size());
        found = offset + kPrefix.size();
        return status == kTodo || status == kDone;
    });
    // Only trust the offset inside a complete header: never patch bytes of the message.
    return body ? found : std::nullopt;
}

}  // namespace labmta::spool
