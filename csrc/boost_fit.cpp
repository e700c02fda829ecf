// Boosted trees on packed binary features (pycx/boost_fit.hpp). One fit runs on one thread:
// the chain rule runs thousands of small fits, and callers run fits side by side.
#include "pycx/boost_fit.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "pycx/simd.hpp"

namespace pycx {
namespace {

constexpr double kRtEps = 1e-6;  // XGBoost: a split must gain more than this

struct Stats {
  double g = 0.0, h = 0.0;
};

struct Node {
  int32_t feature = -1;  // -1: leaf
  int32_t left = -1, right = -1;
  float leaf = 0.0f;
};

struct Hist {
  std::vector<double> g0, g1, h0, h1;
  explicit Hist(int64_t f = 0) : g0(f, 0.0), g1(f, 0.0), h0(f, 0.0), h1(f, 0.0) {}
};

using HistFn = void (*)(const uint64_t*, int64_t, int64_t, const int32_t*, int64_t, const float*,
                        const float*, double*, double*, double*, double*);

// Features in blocks of 8 whose sums stay in local accumulators over all the node's points
// (not read and written back per point); 0/1 multipliers instead of branches: x + g * 0 and
// x + (g - g * 1) leave x unchanged bit for bit (the sums start at +0.0, no term is -0.0), so
// the sums equal XGBoost's per-bin additions.
void hist_portable(const uint64_t* rows, int64_t words, int64_t n_features, const int32_t* points,
                   int64_t n_points, const float* grad, const float* hess, double* g0,
                   double* g1, double* h0, double* h1) {
  for (int64_t base = 0; base < n_features; base += 8) {
    const int64_t word = base >> 6;
    const int shift = static_cast<int>(base & 63);
    double G0[8] = {}, G1[8] = {}, H0[8] = {}, H1[8] = {};
    for (int64_t k = 0; k < n_points; ++k) {
      const int64_t p = points[k];
      const uint64_t bits = rows[p * words + word] >> shift;
      const double g = grad[p], h = hess[p];
      for (int j = 0; j < 8; ++j) {
        const double m = static_cast<double>((bits >> j) & 1u);
        const double gm = g * m, hm = h * m;
        G1[j] += gm;
        G0[j] += g - gm;
        H1[j] += hm;
        H0[j] += h - hm;
      }
    }
    double out[4][8];
    for (int j = 0; j < 8; ++j) {
      out[0][j] = G0[j];
      out[1][j] = G1[j];
      out[2][j] = H0[j];
      out[3][j] = H1[j];
    }
    const int64_t n = (n_features - base) < 8 ? (n_features - base) : 8;
    boost_fit_detail::store_block(&out[0][0], 8, base, n, g0, g1, h0, h1);
  }
}


HistFn pick_hist() {
  return PYCX_SIMD_PICK(active_simd_level(), simd_impl::boost_fit_hist_avx512,
                        simd_impl::boost_fit_hist_avx2, HistFn{hist_portable});
}

// XGBoost's CalcWeight / gain without L1, max_delta_step or constraints.
inline double calc_weight(const Stats& s, const BoostParams& p) {
  if (s.h < p.min_child_weight || s.h <= 0.0) return 0.0;
  return -s.g / (s.h + p.lambda);
}

// XGBoost's split evaluator: the gain given the float weight, -(2 G w + (H + lambda) w^2), in
// float (the sums and lambda rounded to float first); 0 for an empty side.
inline float calc_gain(const Stats& s, const BoostParams& p) {
  if (s.h <= 0.0) return 0.0f;
  const float w = static_cast<float>(calc_weight(s, p));
  const float g = static_cast<float>(s.g), h = static_cast<float>(s.h);
  return -(2.0f * g * w + (h + static_cast<float>(p.lambda)) * (w * w));
}

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

struct Split {
  float loss = 0.0f;
  int32_t feature = -1;
  Stats left, right;
};

// XGBoost's split enumeration over the two bins of each feature: the forward scan (left =
// bin 0), and the backward scan (right = bin 1) only where the bins' total differs from the
// node's sums (XGBoost's test for missing values; here it can differ only by rounding).
// Replacement rule of its SplitEntry: strictly larger loss; features come in increasing order.
Split best_split(const Hist& hist, int64_t n_features, const Stats& node, float root_gain,
                 const BoostParams& p) {
  Split best;  // feature -1 until a split gains more than 0
  auto consider = [&](const Stats& l, const Stats& r, int32_t j) {
    // The two sides' float gains added and the node's subtracted in double, then rounded
    // (matched against XGBoost's loss changes on near-tied splits).
    const float loss = static_cast<float>((static_cast<double>(calc_gain(l, p)) +
                                           static_cast<double>(calc_gain(r, p))) -
                                          static_cast<double>(root_gain));
    if (loss > best.loss) {
      best.loss = loss;
      best.feature = j;
      best.left = l;
      best.right = r;
    }
  };
  for (int64_t j = 0; j < n_features; ++j) {
    Stats left{0.0 + hist.g0[j], 0.0 + hist.h0[j]};
    if (left.h >= p.min_child_weight) {
      Stats right{node.g - left.g, node.h - left.h};
      if (right.h >= p.min_child_weight) consider(left, right, static_cast<int32_t>(j));
    }
    const Stats total{left.g + hist.g1[j], left.h + hist.h1[j]};
    if (total.g != node.g || total.h != node.h) {
      Stats right{0.0 + hist.g1[j], 0.0 + hist.h1[j]};
      if (right.h >= p.min_child_weight) {
        Stats l{node.g - right.g, node.h - right.h};
        if (l.h >= p.min_child_weight) consider(l, right, static_cast<int32_t>(j));
      }
    }
  }
  return best;
}

}  // namespace

void boost_fit_predict(const uint64_t* train, int64_t n_train, int64_t words, int64_t n_features,
                       const float* label, const float* weight, const uint64_t* test,
                       int64_t n_test, const BoostParams& p, float* prob_out) {
  const HistFn hist_fn = pick_hist();
  // base_score: the weighted mean label, as a float probability; its margin as XGBoost's
  // ProbToMargin: -log(1/b - 1) with the inner expression in float.
  double wy = 0.0, ws = 0.0;
  for (int64_t i = 0; i < n_train; ++i) {
    wy += static_cast<double>(weight[i]) * static_cast<double>(label[i]);
    ws += static_cast<double>(weight[i]);
  }
  const float base = static_cast<float>(wy / ws);
  const float base_margin =
      static_cast<float>(-std::log(static_cast<double>(1.0f / base - 1.0f)));

  std::vector<float> margin(n_train, base_margin), grad(n_train), hess(n_train);
  std::vector<float> test_margin(n_test, base_margin);
  std::vector<int32_t> points(n_train), scratch(n_train);
  std::vector<Node> tree;
  std::vector<Hist> hists;
  std::vector<Stats> stats;
  std::vector<int64_t> begin, end;  // each node's range of `points`
  std::vector<int32_t> level, next;
  std::vector<int32_t> step_feature, step_base;
  std::vector<uint32_t> step_mask;

  for (int round = 0; round < p.rounds; ++round) {
    for (int64_t i = 0; i < n_train; ++i) {
      const float prob = sigmoid(margin[i]);
      grad[i] = (prob - label[i]) * weight[i];
      hess[i] = std::max(prob * (1.0f - prob), 1e-16f) * weight[i];
    }
    for (int64_t i = 0; i < n_train; ++i) points[i] = static_cast<int32_t>(i);
    tree.assign(1, Node{});
    hists.clear();
    hists.emplace_back(n_features);
    begin.assign(1, 0);
    end.assign(1, n_train);
    hist_fn(train, words, n_features, points.data(), n_train, grad.data(), hess.data(),
            hists[0].g0.data(), hists[0].g1.data(), hists[0].h0.data(), hists[0].h1.data());
    // The root's sums: the bins of the first feature, as XGBoost does for dense data.
    stats.assign(1, Stats{(0.0 + hists[0].g0[0]) + hists[0].g1[0],
                          (0.0 + hists[0].h0[0]) + hists[0].h1[0]});
    level.assign(1, 0);
    int levels_grown = 0;  // depth of the deepest leaf
    for (int depth = 0; depth <= p.max_depth && !level.empty(); ++depth) {
      levels_grown = depth;
      next.clear();
      for (int32_t nid : level) {
        Split s;
        if (depth < p.max_depth) {
          const float root_gain = calc_gain(stats[nid], p);
          s = best_split(hists[nid], n_features, stats[nid], root_gain, p);
        }
        if (s.feature < 0 || !(s.loss > kRtEps) || s.left.h == 0.0 || s.right.h == 0.0) {
          const float w = static_cast<float>(calc_weight(stats[nid], p));
          tree[nid].leaf = w * p.eta;
          continue;
        }
        // Stable partition of the node's points: bit = 0 left, 1 right.
        const int64_t b = begin[nid], e = end[nid];
        const int64_t word = s.feature >> 6;
        const uint64_t mask = uint64_t{1} << (s.feature & 63);
        int64_t nl = 0, nr = 0;
        for (int64_t k = b; k < e; ++k) {  // branch-free: the bits are coin flips
          const int32_t pt = points[k];
          const int64_t bit = (train[pt * words + word] & mask) != 0;
          scratch[nr] = pt;
          points[b + nl] = pt;  // k >= b + nl: never overwrites a point still to be read
          nr += bit;
          nl += 1 - bit;
        }
        std::copy(scratch.begin(), scratch.begin() + nr, points.begin() + b + nl);
        const int32_t l = static_cast<int32_t>(tree.size()), r = l + 1;
        tree[nid].feature = s.feature;
        tree[nid].left = l;
        tree[nid].right = r;
        tree.emplace_back();
        tree.emplace_back();
        stats.push_back(s.left);
        stats.push_back(s.right);
        begin.push_back(b);
        end.push_back(b + nl);
        begin.push_back(b + nl);
        end.push_back(e);
        hists.emplace_back();
        hists.emplace_back();
        if (depth + 1 < p.max_depth) {
          // Build the child with the smaller hessian sum, subtract it from the parent for the
          // other (XGBoost's rule).
          const bool fewer_right = s.right.h < s.left.h;
          const int32_t built = fewer_right ? r : l, other = fewer_right ? l : r;
          hists[built] = Hist(n_features);
          hists[other] = Hist(n_features);
          Hist& hb = hists[built];
          hist_fn(train, words, n_features, points.data() + begin[built],
                  end[built] - begin[built], grad.data(), hess.data(), hb.g0.data(),
                  hb.g1.data(), hb.h0.data(), hb.h1.data());
          Hist& ho = hists[other];
          const Hist& hp = hists[nid];
          for (int64_t j = 0; j < n_features; ++j) {
            ho.g0[j] = hp.g0[j] - hb.g0[j];
            ho.g1[j] = hp.g1[j] - hb.g1[j];
            ho.h0[j] = hp.h0[j] - hb.h0[j];
            ho.h1[j] = hp.h1[j] - hb.h1[j];
          }
        }
        hists[nid] = Hist();  // no longer needed
        next.push_back(l);
        next.push_back(r);
      }
      level.swap(next);
    }
    // Leaves of the training points (from the partition) and of the test points.
    for (size_t nid = 0; nid < tree.size(); ++nid) {
      if (tree[nid].feature >= 0) continue;
      for (int64_t k = begin[nid]; k < end[nid]; ++k) margin[points[k]] += tree[nid].leaf;
    }
    // Test rows walk the tree without branches (the bits are coin flips): as many steps as
    // the tree has levels, a leaf stepping to itself; a right child is its left sibling + 1.
    const int64_t n_nodes = static_cast<int64_t>(tree.size());
    step_feature.resize(n_nodes);
    step_base.resize(n_nodes);
    step_mask.resize(n_nodes);
    for (int64_t nid = 0; nid < n_nodes; ++nid) {
      const Node& nd = tree[nid];
      const bool leaf = nd.feature < 0;
      step_feature[nid] = leaf ? 0 : nd.feature;
      step_base[nid] = leaf ? static_cast<int32_t>(nid) : nd.left;
      step_mask[nid] = leaf ? 0u : 1u;
    }
    for (int64_t q = 0; q < n_test; ++q) {
      const uint64_t* row = test + q * words;
      int32_t nid = 0;
      for (int d = 0; d < levels_grown; ++d) {
        const int32_t f = step_feature[nid];
        const uint32_t bit = static_cast<uint32_t>(row[f >> 6] >> (f & 63)) & step_mask[nid];
        nid = step_base[nid] + static_cast<int32_t>(bit);
      }
      test_margin[q] += tree[nid].leaf;
    }
  }
  for (int64_t q = 0; q < n_test; ++q) prob_out[q] = sigmoid(test_margin[q]);
}

}  // namespace pycx
