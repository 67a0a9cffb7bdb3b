/* The translation unit that compiles stb_image, the image decoder (system
 * header from /usr/include/stb). io/ includes the same header without the
 * IMPLEMENTATION macro. The encoder is in stb_write_impl.c, apart, so that a
 * sanitizer exception it needs does not reach the decoder, which reads
 * untrusted files. */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_PSD
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STBI_NO_PNM
#define STBI_NO_GIF
#define STBI_NO_TGA
#include <stb_image.h>
