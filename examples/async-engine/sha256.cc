// sha256.cc — see sha256.h. Section numbers are FIPS 180-4's.
#include "sha256.h"

#include <cstring>

namespace engine {
namespace {

// 4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

// 5.3.3: the first 32 bits of the fractional parts of the square roots of the first 8 primes.
constexpr uint32_t kInitialHash[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

// 3.2 and 4.1.2. ROTR^n(x) for 0 < n < 32.
inline uint32_t Rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }
inline uint32_t Ch(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (~x & z); }
inline uint32_t Maj(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (x & z) ^ (y & z); }
inline uint32_t BigSigma0(uint32_t x) { return Rotr(x, 2) ^ Rotr(x, 13) ^ Rotr(x, 22); }
inline uint32_t BigSigma1(uint32_t x) { return Rotr(x, 6) ^ Rotr(x, 11) ^ Rotr(x, 25); }
inline uint32_t SmallSigma0(uint32_t x) { return Rotr(x, 7) ^ Rotr(x, 18) ^ (x >> 3); }
inline uint32_t SmallSigma1(uint32_t x) { return Rotr(x, 17) ^ Rotr(x, 19) ^ (x >> 10); }

// Words are big-endian (3.1).
inline uint32_t LoadBigEndian(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline void StoreBigEndian(uint8_t* p, uint32_t x) {
  p[0] = static_cast<uint8_t>(x >> 24);
  p[1] = static_cast<uint8_t>(x >> 16);
  p[2] = static_cast<uint8_t>(x >> 8);
  p[3] = static_cast<uint8_t>(x);
}

}  // namespace

Sha256::Sha256() { std::memcpy(state_, kInitialHash, sizeof state_); }

// 6.2.2: one message block M(i) into the intermediate hash H(i-1) -> H(i).
void Sha256::Compress(const uint8_t block[kBlockSize]) {
  // Step 1: the message schedule W_0 .. W_63.
  uint32_t w[64];
  for (int t = 0; t < 16; t++) w[t] = LoadBigEndian(block + 4 * t);
  for (int t = 16; t < 64; t++) {
    w[t] = SmallSigma1(w[t - 2]) + w[t - 7] + SmallSigma0(w[t - 15]) + w[t - 16];
  }
  // Step 2: the working variables a..h start as H(i-1).
  uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
  // Step 3: 64 rounds (all additions modulo 2^32: uint32_t arithmetic).
  for (int t = 0; t < 64; t++) {
    const uint32_t t1 = h + BigSigma1(e) + Ch(e, f, g) + kK[t] + w[t];
    const uint32_t t2 = BigSigma0(a) + Maj(a, b, c);
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  // Step 4: H(i) = H(i-1) + the working variables.
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
  state_[4] += e;
  state_[5] += f;
  state_[6] += g;
  state_[7] += h;
}

// 5.2.1 parses the message into 512-bit blocks: whole blocks go straight to Compress, the
// remainder waits in pending_ for the next Update or Final.
void Sha256::Update(const uint8_t* data, size_t size) {
  messageBytes_ += size;
  if (pendingSize_ > 0) {
    const size_t take = size < kBlockSize - pendingSize_ ? size : kBlockSize - pendingSize_;
    std::memcpy(pending_ + pendingSize_, data, take);
    pendingSize_ += take;
    data += take;
    size -= take;
    if (pendingSize_ < kBlockSize) return;
    Compress(pending_);
    pendingSize_ = 0;
  }
  for (; size >= kBlockSize; data += kBlockSize, size -= kBlockSize) Compress(data);
  std::memcpy(pending_, data, size);
  pendingSize_ = size;
}

// 5.1.1 pads the message: a 1 bit, then k zero bits with l + 1 + k = 448 (mod 512), then l, the
// message length in bits, as a 64-bit big-endian number. 6.2.2: the digest is H(N) big-endian.
void Sha256::Final(uint8_t digest[kDigestSize]) {
  const uint64_t bits = messageBytes_ * 8;
  uint8_t padding[2 * kBlockSize] = {0x80};  // the rest zero
  const size_t zeroBytesTo56 = (kBlockSize + 56 - (pendingSize_ + 1) % kBlockSize) % kBlockSize;
  const size_t padSize = 1 + zeroBytesTo56 + 8;
  for (int i = 0; i < 8; i++) padding[padSize - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  const uint64_t keep = messageBytes_;
  Update(padding, padSize);  // ends exactly on a block boundary
  messageBytes_ = keep;
  for (int i = 0; i < 8; i++) StoreBigEndian(digest + 4 * i, state_[i]);
}

}  // namespace engine
