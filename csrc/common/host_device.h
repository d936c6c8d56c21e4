// Macros shared by every op's math header: host+device inline functions and a fused multiply-add
// that is fast on every target. Free of CUDA headers on host-only builds.
#pragma once

#if defined(__CUDACC__)
#define DEEPEMOTION_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define DEEPEMOTION_HOST_DEVICE inline
#endif

// Fused multiply-add where the hardware has it (CUDA, AArch64, x86 built with FMA); elsewhere a
// plain multiply-add, since a software fmaf from libm is ~20x slower than the whole sample.
#if defined(__CUDA_ARCH__)
#define DEEPEMOTION_FMA(a, b, c) fmaf((a), (b), (c))
#elif defined(__FMA__) || defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
#define DEEPEMOTION_FMA(a, b, c) __builtin_fmaf((a), (b), (c))
#else
#define DEEPEMOTION_FMA(a, b, c) ((a) * (b) + (c))
#endif
