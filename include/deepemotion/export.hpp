// Symbol visibility of the public API (libdeepemotion is built with hidden visibility).
#pragma once

#if defined(_WIN32)
#define DEEPEMOTION_API
#else
#define DEEPEMOTION_API __attribute__((visibility("default")))
#endif
