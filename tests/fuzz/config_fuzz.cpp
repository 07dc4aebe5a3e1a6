// libFuzzer target: the config loader. Any YAML text either gives a Config or throws
// config::ConfigError; any other exception escaping parse_config() is a bug, and so is a
// crash. A parsed config is written back with to_yaml(), which must not throw either.
#include "config/config.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view yaml(reinterpret_cast<const char*>(data), size);
    try {
        const labmta::config::Config config = labmta::config::parse_config(yaml, "fuzz.yaml");
        labmta::config::to_yaml(config);
    } catch (const labmta::config::ConfigError&) {
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "config_fuzz: unexpected exception: %s\n", error.what());
        std::abort();
    } catch (...) {
        std::fprintf(stderr, "config_fuzz: unexpected non-std exception\n");
        std::abort();
    }
    return 0;
}
