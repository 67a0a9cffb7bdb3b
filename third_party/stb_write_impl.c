/* The translation unit that compiles stb_image_write, the PNG/JPEG/BMP
 * encoder (system header from /usr/include/stb). With DCSR_SANITIZE, CMake
 * compiles this file with -fno-sanitize=shift-base: the JPEG writer's bit
 * buffer is a signed int that stbiw__jpg_writeBits shifts left past bit 31
 * (bitBuf <<= 8), which UBSan reports although only the low 24 bits are ever
 * used. The decoder (stb_impl.c) keeps every check. */
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
