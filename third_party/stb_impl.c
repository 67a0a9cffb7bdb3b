/* The one translation unit that compiles the stb single-header libraries
 * (system headers from /usr/include/stb). io/image_io.cpp includes the same
 * headers without the IMPLEMENTATION macros. */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_PSD
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STBI_NO_PNM
#define STBI_NO_GIF
#define STBI_NO_TGA
#include <stb_image.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
