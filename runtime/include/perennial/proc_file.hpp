#pragma once
// Reading a small file of /proc (a process's cmdline, its children) that may vanish while it is
// read: the process it describes can end between the open and the read.

#include <string>

namespace perennial {

/// The whole file, or what was read of it before an error; empty when it cannot be opened.
/// Never throws for the file's sake: libstdc++'s stream buffers throw std::ios_base::failure
/// ("No such process") from an istreambuf_iterator when the process behind a /proc file ends
/// after the open, and a start-up watchdog thread reading a dying rank's cmdline took its whole
/// process down with it (std::terminate; random-kill soak, issue 16).
std::string read_proc_file(const std::string& path);

}  // namespace perennial
