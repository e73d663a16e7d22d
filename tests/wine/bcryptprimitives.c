/*
 * A stand-in bcryptprimitives.dll for wine 8 (Debian 12), which lacks that DLL. Rust's standard
 * library for Windows (1.78+) imports ProcessPrng from it for its random numbers (HashMap keys),
 * so without it no Rust test program starts under that wine. This one answers ProcessPrng from
 * RtlGenRandom (advapi32's SystemFunction036), which wine 8 has. Only tests/cross.sh uses it,
 * installed into the test wine prefix; the addon DLL is not built against it and ships without.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
