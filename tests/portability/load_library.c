/* Loads a shared library the way a player's Godot loads the addon, and resolves its entry
 * point, inside an old Linux distribution (tests/portability.sh runs it in Debian's oldest
 * served release).
 *
 *     load_library LIBRARY SYMBOL
 *
 * dlopen with RTLD_NOW binds every symbol the library imports at once, so a glibc that lacks a
 * symbol version the library needs fails here, naming the symbol, instead of at the first call.
 * Exit code 0 when both steps succeed. */
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIBRARY SYMBOL\n", argv[0]);
        return 2;
    }
    void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        fprintf(stderr, "dlopen failed on glibc %s: %s\n", gnu_get_libc_version(), dlerror());
        return 1;
    }
    if (dlsym(library, argv[2]) == NULL) {
        fprintf(stderr, "dlsym(%s) failed: %s\n", argv[2], dlerror());
        return 1;
    }
    printf("loaded %s with RTLD_NOW and resolved %s on glibc %s\n", argv[1], argv[2],
           gnu_get_libc_version());
    return 0;
}
