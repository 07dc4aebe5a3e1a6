// The few file helpers the tests need: write or read a whole file, list a directory.
// Test-only code: throws on any failure. Temporary directories are TempDir (temp_dir.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace labmta::test {

// Writes text to path (replacing it); throws std::runtime_error on failure.
void write_text_file(const std::string& path, std::string_view text);
// The whole file; throws std::runtime_error when it cannot be read.
std::string read_text_file(const std::string& path);
// Names of the regular files directly in dir, sorted; empty when dir does not exist.
std::vector<std::string> list_files(const std::string& dir);

}  // namespace labmta::test
