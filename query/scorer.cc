// File: query/scorer.cc
#include "query/scorer.h"

#include <algorithm>
#include <limits>

#include "query/cursor_intersection.h"

namespace scry::query {
namespace {

using storage::PostingCursor;

class TermScorer final : public Scorer {
 public:
  TermScorer(std::unique_ptr<PostingCursor> cursor, double idf, const ScoringContext* ctx)
      : cursor_(std::move(cursor)), idf_(idf), ctx_(ctx) {}
  uint32_t docid() const override { return cursor_->docid(); }
  void Next() override { cursor_->Next(); }
  void NextGeq(uint32_t target) override { cursor_->NextGeq(target); }
  double Score() override { return ctx_->Score(*cursor_, idf_); }
  uint64_t Cost() const override { return cursor_->df(); }
  absl::Status status() const override { return cursor_->status(); }
  PostingCursor* term_cursor() override { return cursor_.get(); }
  double Freq() override { return cursor_->freq(); }

 private:
  std::unique_ptr<PostingCursor> cursor_;
  double idf_;
  const ScoringContext* ctx_;
};

// The documents of a RangeCursor, each scored 0.
class RangeScorer final : public Scorer {
 public:
  RangeScorer(const storage::DocValuesColumn* column, storage::KeyRange range)
      : cursor_(column, range) {}
  uint32_t docid() const override { return cursor_.docid(); }
  void Next() override { cursor_.Next(); }
  void NextGeq(uint32_t target) override { cursor_.NextGeq(target); }
  double Score() override { return 0; }
  uint64_t Cost() const override { return cursor_.df(); }
  absl::Status status() const override { return cursor_.status(); }

 private:
  storage::RangeCursor cursor_;
};

// Intersects the cursors (words, or pairs of words) by docid, then keeps
// documents where their terms occur at the phrase's relative offsets;
// positions are decoded only for documents that hold every term, and only
// as long as candidate starts are left (CountMatches).
class PhraseScorer final : public Scorer {
 public:
  PhraseScorer(std::vector<std::unique_ptr<PostingCursor>> cursors, std::vector<uint32_t> offsets,
               uint32_t slop, double idf, const ScoringContext* ctx)
      : cursors_(std::move(cursors)),
        offsets_(std::move(offsets)),
        slop_(slop),
        idf_(idf),
        ctx_(ctx),
        docs_(Pointers(cursors_)) {
    pos_.resize(cursors_.size());
    len_.resize(cursors_.size());
    at_.resize(cursors_.size());
    order_.resize(cursors_.size());
    cost_ = cursors_[0]->df();
    for (const auto& c : cursors_) cost_ = std::min<uint64_t>(cost_, c->df());
    Advance(cursors_[0]->docid());
  }
  uint32_t docid() const override { return docid_; }
  void Next() override {
    if (docid_ != kEndDocid) Advance(docid_ + 1);
  }
  void NextGeq(uint32_t target) override {
    if (target > docid_ || docid_ == kEndDocid) {
      if (docid_ != kEndDocid) Advance(target);
    }
  }
  double Score() override {
    const uint8_t field = cursors_[0]->field();
    return ctx_->Of(field).Score(idf_, phrase_freq_, ctx_->shard->doc_length(field, docid_));
  }
  uint64_t Cost() const override { return cost_; }
  double Freq() override { return phrase_freq_; }
  absl::Status status() const override {
    for (const auto& c : cursors_) {
      if (!c->status().ok()) return c->status();
    }
    return absl::OkStatus();
  }

 private:
  static std::vector<PostingCursor*> Pointers(
      const std::vector<std::unique_ptr<PostingCursor>>& cursors) {
    std::vector<PostingCursor*> out;
    for (const auto& c : cursors) out.push_back(c.get());
    return out;
  }

  // Moves to the first phrase match at docid >= target.
  void Advance(uint32_t target) {
    for (;;) {
      if (ctx_->Expired()) {
        docid_ = kEndDocid;
        return;
      }
      // The documents holding every term, then their positions.
      const uint32_t d = docs_.NextGeq(target);
      if (d == kEndDocid) {
        docid_ = kEndDocid;
        return;
      }
      if (ctx_->Excluded(d)) {  // never a match: no positions read
        target = d + 1;
        continue;
      }
      phrase_freq_ = slop_ == 0 ? CountMatches() : SloppyFreq();
      if (phrase_freq_ > 0) {
        docid_ = d;
        return;
      }
      if (docid_ == kEndDocid) return;  // an error inside CountMatches
      target = d + 1;
    }
  }

  // Counts the phrase's occurrences in the current document: the starts s
  // at which every list holds its term at s + its offset. A single list at
  // offset 0 (a one-word phrase, or a pair) holds it at each of its
  // positions: its tf, no position read. Otherwise the list with the fewest
  // positions here gives the candidate starts, and the others, fewest
  // first, strike out those they miss; positions are read only while
  // candidates are left.
  uint32_t CountMatches() {
    const size_t n = cursors_.size();
    if (n == 1 && offsets_[0] == 0) return cursors_[0]->freq();
    for (size_t i = 0; i < n; ++i) {
      len_[i] = cursors_[i]->freq();
      order_[i] = i;
    }
    std::sort(order_.begin(), order_.end(),
              [&](size_t a, size_t b) { return len_[a] != len_[b] ? len_[a] < len_[b] : a < b; });
    const size_t anchor = order_[0];
    if (!LoadPositions(anchor)) return 0;
    starts_.clear();
    for (uint32_t k = 0; k < len_[anchor]; ++k) {
      if (pos_[anchor][k] >= offsets_[anchor])
        starts_.push_back(pos_[anchor][k] - offsets_[anchor]);
    }
    for (size_t r = 1; r < n && !starts_.empty(); ++r) {
      const size_t i = order_[r];
      if (!LoadPositions(i)) return 0;
      // Both ascending: keep the starts whose position is in list i.
      const uint32_t* p = pos_[i];
      const uint32_t len = len_[i];
      uint32_t a = 0;
      size_t kept = 0;
      for (const uint64_t start : starts_) {
        const uint64_t want = start + offsets_[i];
        while (a < len && p[a] < want) ++a;
        if (a == len) break;
        if (p[a] == want) starts_[kept++] = start;
      }
      starts_.resize(kept);
    }
    return static_cast<uint32_t>(starts_.size());
  }

  // Reads the current document's positions of list i into pos_[i]; false
  // (and the scorer at its end) on a read error.
  bool LoadPositions(size_t i) {
    if (!cursors_[i]->PositionSpan(&pos_[i]).ok()) {
      docid_ = kEndDocid;
      return false;
    }
    return true;
  }

  // Loads the current document's positions of every list; false (and the
  // scorer at its end) on a read error.
  bool LoadAllPositions() {
    for (size_t i = 0; i < cursors_.size(); ++i) {
      if (!LoadPositions(i)) return false;
      len_[i] = cursors_[i]->freq();
      at_[i] = 0;
    }
    return true;
  }

  // The sloppy frequency of the current document (Lucene's
  // SloppyPhraseMatcher without its repeated-term bookkeeping): each term
  // walks its positions, shifted by its offset in the phrase; the term
  // furthest behind moves on, and each time the spread between it and the
  // furthest ahead is smallest before it passes the next term, a spread of
  // at most slop is a match, worth 1 / (1 + spread). Terms that repeat in
  // the phrase must then sit on different positions.
  double SloppyFreq() {
    if (!LoadAllPositions()) return 0;
    const size_t n = cursors_.size();
    auto value = [&](size_t i) {
      return static_cast<int64_t>(pos_[i][at_[i]]) - static_cast<int64_t>(offsets_[i]);
    };
    // Repeated terms: pairs of phrase slots holding the same term.
    repeats_.clear();
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = i + 1; j < n; ++j) {
        if (cursors_[i]->term() == cursors_[j]->term()) repeats_.emplace_back(i, j);
      }
    }
    auto distinct = [&] {
      for (const auto& [i, j] : repeats_) {
        if (pos_[i][at_[i]] == pos_[j][at_[j]]) return false;
      }
      return true;
    };
    heap_.clear();
    int64_t end = std::numeric_limits<int64_t>::min();
    for (size_t i = 0; i < n; ++i) {
      if (len_[i] == 0) return 0;
      heap_.push_back(i);
      end = std::max(end, value(i));
    }
    // A min-heap by value, ties by slot (as Lucene orders by offset).
    auto later = [&](size_t a, size_t b) {
      const int64_t va = value(a), vb = value(b);
      return va != vb ? va > vb : a > b;
    };
    std::make_heap(heap_.begin(), heap_.end(), later);
    auto pop = [&] {
      std::pop_heap(heap_.begin(), heap_.end(), later);
      const size_t i = heap_.back();
      heap_.pop_back();
      return i;
    };
    auto push = [&](size_t i) {
      heap_.push_back(i);
      std::push_heap(heap_.begin(), heap_.end(), later);
    };
    double freq = 0;
    size_t pp = pop();
    int64_t match_length = end - value(pp);
    int64_t next = value(heap_.front());
    bool match_distinct = distinct();
    for (;;) {
      if (++at_[pp] == len_[pp]) break;
      const int64_t v = value(pp);
      end = std::max(end, v);
      if (v > next) {
        // Done minimising this match's length.
        push(pp);
        if (match_length <= slop_ && match_distinct) freq += 1.0 / (1.0 + match_length);
        pp = pop();
        next = value(heap_.front());
        match_length = end - value(pp);
        match_distinct = distinct();
      } else if (end - v < match_length) {
        match_length = end - v;
        match_distinct = distinct();
      }
    }
    if (match_length <= slop_ && match_distinct) freq += 1.0 / (1.0 + match_length);
    return freq;
  }

  std::vector<std::unique_ptr<PostingCursor>> cursors_;
  std::vector<uint32_t> offsets_;
  uint32_t slop_;
  std::vector<size_t> heap_;
  std::vector<std::pair<size_t, size_t>> repeats_;
  double idf_;
  const ScoringContext* ctx_;
  CursorIntersection<PostingCursor> docs_;
  uint64_t cost_ = 0;
  uint32_t docid_ = 0;
  double phrase_freq_ = 0;
  std::vector<const uint32_t*> pos_;
  std::vector<uint32_t> len_;
  std::vector<uint32_t> at_;
  std::vector<size_t> order_;     // CountMatches: lists by positions in the document
  std::vector<uint64_t> starts_;  // CountMatches: candidate starts
};

absl::Status FirstError(const std::vector<std::unique_ptr<Scorer>>& children) {
  for (const auto& c : children) {
    absl::Status s = c->status();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

class ConjunctionScorer final : public Scorer {
 public:
  explicit ConjunctionScorer(std::vector<std::unique_ptr<Scorer>> children)
      : children_(std::move(children)) {
    // Rarest first: the lead proposes, the others confirm.
    std::stable_sort(children_.begin(), children_.end(),
                     [](const auto& a, const auto& b) { return a->Cost() < b->Cost(); });
    // Scores are summed in the query's order, not the cost order.
    Align(children_[0]->docid());
  }
  uint32_t docid() const override { return docid_; }
  void Next() override {
    if (docid_ != kEndDocid) Align(docid_ + 1);
  }
  void NextGeq(uint32_t target) override {
    if (target > docid_) Align(target);
  }
  double Score() override {
    double s = 0;
    for (Scorer* c : query_order_) s += c->Score();
    return s;
  }
  uint64_t Cost() const override { return children_[0]->Cost(); }
  absl::Status status() const override { return FirstError(children_); }

  void SetQueryOrder(std::vector<Scorer*> order) { query_order_ = std::move(order); }

 private:
  void Align(uint32_t target) {
    uint32_t d = target;
    for (size_t i = 0; i < children_.size();) {
      children_[i]->NextGeq(d);
      const uint32_t cd = children_[i]->docid();
      if (cd == kEndDocid) {
        docid_ = kEndDocid;
        return;
      }
      if (cd > d) {
        d = cd;
        i = i == 0 ? 1 : 0;
      } else {
        ++i;
      }
    }
    docid_ = d;
  }

  std::vector<std::unique_ptr<Scorer>> children_;
  std::vector<Scorer*> query_order_;
  uint32_t docid_ = 0;
};

// A conjunction of term scorers: the cursors are intersected a window of
// decoded blocks at a time (CursorIntersection) instead of leapfrogging
// through virtual calls per posting.
class TermConjunctionScorer final : public Scorer {
 public:
  TermConjunctionScorer(std::vector<std::unique_ptr<Scorer>> children,
                        std::vector<PostingCursor*> cursors)
      : children_(std::move(children)), docs_(std::move(cursors)) {
    cost_ = children_[0]->Cost();
    for (const auto& c : children_) cost_ = std::min(cost_, c->Cost());
    docid_ = docs_.NextGeq(0);
  }
  uint32_t docid() const override { return docid_; }
  void Next() override {
    if (docid_ != kEndDocid) docid_ = docs_.NextGeq(docid_ + 1);
  }
  void NextGeq(uint32_t target) override {
    if (target > docid_ && docid_ != kEndDocid) docid_ = docs_.NextGeq(target);
  }
  double Score() override {
    double s = 0;
    for (const auto& c : children_) s += c->Score();  // query order
    return s;
  }
  uint64_t Cost() const override { return cost_; }
  absl::Status status() const override { return FirstError(children_); }

 private:
  std::vector<std::unique_ptr<Scorer>> children_;
  CursorIntersection<PostingCursor> docs_;
  uint64_t cost_ = 0;
  uint32_t docid_ = 0;
};

class DisjunctionScorer final : public Scorer {
 public:
  explicit DisjunctionScorer(std::vector<std::unique_ptr<Scorer>> children)
      : children_(std::move(children)) {
    for (const auto& c : children_) cost_ += c->Cost();
    UpdateDocid();
  }
  uint32_t docid() const override { return docid_; }
  void Next() override {
    if (docid_ == kEndDocid) return;
    for (auto& c : children_) {
      if (c->docid() == docid_) c->Next();
    }
    UpdateDocid();
  }
  void NextGeq(uint32_t target) override {
    if (target <= docid_) return;
    for (auto& c : children_) c->NextGeq(target);
    UpdateDocid();
  }
  double Score() override {
    double s = 0;
    for (auto& c : children_) {
      if (c->docid() == docid_) s += c->Score();
    }
    return s;
  }
  uint64_t Cost() const override { return cost_; }
  absl::Status status() const override { return FirstError(children_); }

 private:
  void UpdateDocid() {
    docid_ = kEndDocid;
    for (const auto& c : children_) docid_ = std::min(docid_, c->docid());
  }

  std::vector<std::unique_ptr<Scorer>> children_;
  uint64_t cost_ = 0;
  uint32_t docid_ = kEndDocid;
};

class ExclusionScorer final : public Scorer {
 public:
  ExclusionScorer(std::unique_ptr<Scorer> required, std::unique_ptr<Scorer> excluded)
      : required_(std::move(required)), excluded_(std::move(excluded)) {
    SkipExcluded();
  }
  uint32_t docid() const override { return required_->docid(); }
  void Next() override {
    required_->Next();
    SkipExcluded();
  }
  void NextGeq(uint32_t target) override {
    required_->NextGeq(target);
    SkipExcluded();
  }
  double Score() override { return required_->Score(); }
  uint64_t Cost() const override { return required_->Cost(); }
  absl::Status status() const override {
    absl::Status s = required_->status();
    return s.ok() ? excluded_->status() : s;
  }

 private:
  void SkipExcluded() {
    for (uint32_t d = required_->docid(); d != kEndDocid; d = required_->docid()) {
      excluded_->NextGeq(d);
      if (excluded_->docid() != d) return;
      required_->Next();
    }
  }
  std::unique_ptr<Scorer> required_;
  std::unique_ptr<Scorer> excluded_;
};

class OptionalScorer final : public Scorer {
 public:
  OptionalScorer(std::unique_ptr<Scorer> required, std::unique_ptr<Scorer> optional)
      : required_(std::move(required)), optional_(std::move(optional)) {}
  uint32_t docid() const override { return required_->docid(); }
  void Next() override { required_->Next(); }
  void NextGeq(uint32_t target) override { required_->NextGeq(target); }
  double Score() override {
    double s = required_->Score();
    const uint32_t d = required_->docid();
    optional_->NextGeq(d);
    if (optional_->docid() == d) s += optional_->Score();
    return s;
  }
  uint64_t Cost() const override { return required_->Cost(); }
  absl::Status status() const override {
    absl::Status s = required_->status();
    return s.ok() ? optional_->status() : s;
  }

 private:
  std::unique_ptr<Scorer> required_;
  std::unique_ptr<Scorer> optional_;
};

}  // namespace

std::unique_ptr<Scorer> NewTermScorer(std::unique_ptr<PostingCursor> cursor, double idf,
                                      const ScoringContext* ctx) {
  return std::make_unique<TermScorer>(std::move(cursor), idf, ctx);
}

std::unique_ptr<Scorer> NewPhraseScorer(std::vector<std::unique_ptr<PostingCursor>> cursors,
                                        std::vector<uint32_t> offsets, uint32_t slop, double idf,
                                        const ScoringContext* ctx) {
  return std::make_unique<PhraseScorer>(std::move(cursors), std::move(offsets), slop, idf, ctx);
}

std::unique_ptr<Scorer> NewRangeScorer(const storage::DocValuesColumn* column,
                                       storage::KeyRange range) {
  return std::make_unique<RangeScorer>(column, range);
}

std::unique_ptr<Scorer> NewConjunctionScorer(std::vector<std::unique_ptr<Scorer>> children) {
  if (children.size() == 1) return std::move(children[0]);
  std::vector<PostingCursor*> cursors;
  for (const auto& c : children) {
    if (PostingCursor* cursor = c->term_cursor()) cursors.push_back(cursor);
  }
  if (cursors.size() == children.size()) {
    return std::make_unique<TermConjunctionScorer>(std::move(children), std::move(cursors));
  }
  std::vector<Scorer*> order;
  for (const auto& c : children) order.push_back(c.get());
  auto scorer = std::make_unique<ConjunctionScorer>(std::move(children));
  scorer->SetQueryOrder(std::move(order));
  return scorer;
}

std::unique_ptr<Scorer> NewDisjunctionScorer(std::vector<std::unique_ptr<Scorer>> children) {
  if (children.size() == 1) return std::move(children[0]);
  return std::make_unique<DisjunctionScorer>(std::move(children));
}

std::unique_ptr<Scorer> NewExclusionScorer(std::unique_ptr<Scorer> required,
                                           std::unique_ptr<Scorer> excluded) {
  return std::make_unique<ExclusionScorer>(std::move(required), std::move(excluded));
}

std::unique_ptr<Scorer> NewOptionalScorer(std::unique_ptr<Scorer> required,
                                          std::unique_ptr<Scorer> optional) {
  return std::make_unique<OptionalScorer>(std::move(required), std::move(optional));
}

}  // namespace scry::query
