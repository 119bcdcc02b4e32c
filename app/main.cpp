#include "cli.hpp"

int main(int argc, char** argv) { return perennial::cli_main(argc, argv); }
