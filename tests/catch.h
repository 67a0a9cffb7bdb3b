// The tests' one include of Catch2: 2.13 (Debian 12's catch2, one header) or
// 3.x (Debian 13's, a compiled library). CMakeLists.txt finds either and
// defines DCSR_CATCH2_MAJOR; this file gives the tests the 2.13 names they use
// in both:
//   Approx                                   (3: Catch::Approx)
//   Catch::Contains, StartsWith, Equals      (3: in Catch::Matchers; Contains
//                                             became ContainsSubstring)
//   register_test(invoker, where, name, tags) a test case added at run time
//                                            (tests/test_op_table.cpp); 2.13's
//                                            AutoReg takes a raw pointer, 3's
//                                            its own unique_ptr.
#pragma once

#if DCSR_CATCH2_MAJOR >= 3
#include <catch2/catch_all.hpp>

#include <string>

using Catch::Approx;
namespace Catch {
inline Matchers::StringContainsMatcher Contains(const std::string& text,
                                                CaseSensitive cased = CaseSensitive::Yes) {
  return Matchers::ContainsSubstring(text, cased);
}
using Matchers::Equals;
using Matchers::StartsWith;
}  // namespace Catch
#else
#include <catch2/catch.hpp>
#endif

namespace dcsr_test {

// Registers a test case whose body is `invoker->invoke()`, reported at
// `where` (the caller's CATCH_INTERNAL_LINEINFO); Catch2 owns the invoker and
// copies the name and tags.
inline void register_test(Catch::ITestInvoker* invoker, const Catch::SourceLineInfo& where, const std::string& name,
                          const std::string& tags) {
#if DCSR_CATCH2_MAJOR >= 3
  Catch::AutoReg(Catch::Detail::unique_ptr<Catch::ITestInvoker>(invoker), where, Catch::StringRef(),
                 Catch::NameAndTags{name, tags});
#else
  Catch::AutoReg(invoker, where, Catch::StringRef(), Catch::NameAndTags{name, tags});
#endif
}

}  // namespace dcsr_test
