package vcard

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"errors"
	"math/big"
)

var errRSAInput = errors.New("vcard: RSA input is not a block below the modulus")

// rawRSA is the card's private-key operation on a modulus-sized block
// (RSA without padding, as PIV GENERAL AUTHENTICATE defines it).
//
// A block with PKCS#1 v1.5 signature padding (00 01 FF… 00 T), which is what
// OpenSC sends to sign, goes through rsa.SignPKCS1v15, whose exponentiation
// is constant-time; the result is the same number. Any other block (a
// decryption, or a caller doing its own padding) is computed with math/big,
// which is not.
func rawRSA(key *rsa.PrivateKey, in []byte) ([]byte, error) {
	k := key.Size()
	if len(in) != k {
		return nil, errRSAInput
	}
	if t, ok := pkcs1Type1Payload(in); ok {
		return rsa.SignPKCS1v15(nil, key, crypto.Hash(0), t)
	}
	m := new(big.Int).SetBytes(in)
	if m.Cmp(key.N) >= 0 {
		return nil, errRSAInput
	}
	s := privateExp(key, m)
	// Check the result with the public exponent before it leaves the card.
	if new(big.Int).Exp(s, big.NewInt(int64(key.E)), key.N).Cmp(m) != 0 {
		return nil, errRSAInput
	}
	return s.FillBytes(make([]byte, k)), nil
}

// pkcs1Type1Payload returns T from 00 01 FF{8,} 00 T.
func pkcs1Type1Payload(b []byte) ([]byte, bool) {
	if len(b) < 11 || b[0] != 0x00 || b[1] != 0x01 {
		return nil, false
	}
	i := bytes.IndexByte(b[2:], 0x00)
	if i < 8 {
		return nil, false
	}
	for _, x := range b[2 : 2+i] {
		if x != 0xFF {
			return nil, false
		}
	}
	return b[3+i:], true
}

// privateExp computes m^d mod n, with the CRT when the key has two primes
// and precomputed values (about three times faster).
func privateExp(key *rsa.PrivateKey, m *big.Int) *big.Int {
	pre := key.Precomputed
	if len(key.Primes) != 2 || pre.Dp == nil || pre.Dq == nil || pre.Qinv == nil {
		return new(big.Int).Exp(m, key.D, key.N)
	}
	p, q := key.Primes[0], key.Primes[1]
	m1 := new(big.Int).Exp(m, pre.Dp, p)
	m2 := new(big.Int).Exp(m, pre.Dq, q)
	h := m1.Sub(m1, m2)
	h.Mul(h, pre.Qinv)
	h.Mod(h, p)
	h.Mul(h, q)
	return h.Add(h, m2)
}
