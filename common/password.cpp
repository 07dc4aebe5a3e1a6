// See password.h. crypt_r's work area (struct crypt_data, 32 KiB) is allocated per call,
// zeroed as libxcrypt asks, and wiped before it is freed since it holds the passphrase.
#include "common/password.h"

#include <crypt.h>
#include <string.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>

namespace labmta::common {
namespace {

struct WipeAndDelete {
    void operator()(crypt_data* data) const {
        explicit_bzero(data, sizeof(*data));
        delete data;
    }
};

using CryptData = std::unique_ptr<crypt_data, WipeAndDelete>;

CryptData make_crypt_data() {
    return CryptData(new crypt_data{});  // value-initialized: every byte zero
}

// Copies `text` NUL-terminated into `field`; false when it does not fit or holds a NUL, which
// crypt would silently treat as the end of the string.
template <std::size_t N>
bool copy_c_string(std::string_view text, char (&field)[N]) {
    if (text.size() >= N || text.find('\0') != std::string_view::npos) {
        return false;
    }
    std::copy(text.begin(), text.end(), field);
    field[text.size()] = '\0';
    return true;
}

// Runs crypt_r over data's own input and setting fields. nullptr when libxcrypt refuses
// (it returns a string starting with '*' for an invalid or unsupported setting).
const char* run_crypt(crypt_data& data) {
    const char* result = crypt_r(data.input, data.setting, &data);
    if (result == nullptr || result[0] == '*' || result[0] == '\0') {
        return nullptr;
    }
    return result;
}

// Constant-time equality: every byte of the longer input is visited and differences are
// OR-ed together, so neither the loop length nor an early exit depends on the content. The
// volatile accumulator keeps the compiler from turning the loop into a short-circuit compare.
bool constant_time_equal(std::string_view a, std::string_view b) {
    const std::size_t length = std::max(a.size(), b.size());
    volatile unsigned char difference = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < length; ++i) {
        const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
        const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
        difference = static_cast<unsigned char>(difference | (x ^ y));
    }
    return difference == 0;
}

}  // namespace

bool verify_plain_password(std::string_view given, std::string_view expected) {
    return constant_time_equal(given, expected);
}

bool verify_password_hash(std::string_view given, std::string_view crypt_hash) {
    const CryptData data = make_crypt_data();
    if (!copy_c_string(given, data->input) || !copy_c_string(crypt_hash, data->setting)) {
        return false;
    }
    const char* result = run_crypt(*data);
    // A setting without its hash part ("$6$salt") hashes fine but can never equal the
    // stored text, so the comparison below refuses it too.
    return result != nullptr && constant_time_equal(result, crypt_hash);
}

std::string hash_password(std::string_view password) {
    const CryptData data = make_crypt_data();
    if (!copy_c_string(password, data->input)) {
        return {};
    }
    // Count 0 is yescrypt's default cost; a null entropy buffer makes libxcrypt read the
    // OS random source itself (CRYPT_GENSALT_IMPLEMENTS_AUTO_ENTROPY).
    if (crypt_gensalt_rn("$y$", 0, nullptr, 0, data->setting, sizeof(data->setting)) == nullptr) {
        return {};
    }
    const char* result = run_crypt(*data);
    return result == nullptr ? std::string() : std::string(result);
}

}  // namespace labmta::common
