// Host-side interface of the CUDA state counts (definitions §3): distinct packed rows, their
// counts k_s, the row -> state index, degeneracies m_k and per-label counts. Device pointers on
// `device`, work on `stream`. Functions returning a size synchronise the stream (the caller
// needs the size to allocate the next output); the others only queue work.
#pragma once
#include <cstdint>

namespace pycx::cuda {

// Groups equal rows of `words` (n_rows x n_words). States are numbered in order of first
// occurrence, as on the CPU. Writes inverse[i] (n_rows entries), counts[s] and first_rows[s]
// (the row where state s first occurs) for s < S, into buffers of n_rows entries, and returns
// S. `force_exact_sort` skips the hash pass and sorts whole rows (the path also taken when two
// different rows share a hash). hash_mask is ANDed into every hash (all ones normally); a mask
// of a few bits makes distinct rows collide, so that tests reach the hash pass, its collision
// flag and the exact re-sort that follows, which no real 64-bit collision could.
int64_t state_counts(const uint64_t* words, int64_t n_rows, int64_t n_words, int64_t* inverse,
                     int64_t* counts, int64_t* first_rows, bool force_exact_sort,
                     uint64_t hash_mask, int device, void* stream);

// out[r, :] = words[rows[r], :] for r < n_out.
void gather_rows(const uint64_t* words, int64_t n_words, const int64_t* rows, int64_t n_out,
                 uint64_t* out, int device, void* stream);

// Distinct values k of counts[0..n) (ascending) and how many entries have each (m_k), written
// to k_out/m_out (capacity n); returns their number.
int64_t degeneracy(const int64_t* counts, int64_t n, int64_t* k_out, int64_t* m_out, int device,
                   void* stream);

// Distinct labels, ascending, into classes_out (capacity n); returns their number.
int64_t unique_labels(const int64_t* labels, int64_t n, int64_t* classes_out, int device,
                      void* stream);

// table[s * n_classes + c] = number of rows i with inverse[i] == s and labels[i] == classes[c]
// (table: n_states x n_classes, overwritten). classes ascending, as from unique_labels.
void label_table(const int64_t* inverse, const int64_t* labels, int64_t n,
                 const int64_t* classes, int64_t n_classes, int64_t n_states, int64_t* table,
                 int device, void* stream);

}  // namespace pycx::cuda
