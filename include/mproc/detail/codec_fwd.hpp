// mproc/detail/codec_fwd.hpp: the names a header needs to declare how its types travel
// (a Codec<T> specialization whose functions are defined out of line), without the cost of
// serialize.hpp: the encoders of every standard container and cereal's type support. Code that
// encodes or decodes includes serialize.hpp.
#pragma once

namespace mproc {

class Writer;
class Reader;
template <class T>
struct Codec;

}  // namespace mproc
