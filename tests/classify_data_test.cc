// The text classifier's data: word splitting, the vocabulary, and the fixed split of
// data/sentiment/.
#include <filesystem>
#include <fstream>

#include "apps/sentiment/sentiment_data.h"
#include "attn/core/error.h"
#include "attn/model/word_tokenizer.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace attn::testing {
namespace {

using model::split_words;
using model::WordVocabulary;
using Words = std::vector<std::string>;

const std::string kSentiment = std::string(ATTN_DATA_DIR) + "/sentiment";

TEST(SplitWords, LowerCasesWordsAndSplitsPunctuation) {
  EXPECT_EQ(split_words("Wow... Loved this place!"),
            (Words{"wow", ".", ".", ".", "loved", "this", "place", "!"}));
  EXPECT_EQ(split_words("  I didn't like 'it'\tat all,\n 10/10 "),
            (Words{"i", "didn't", "like", "'", "it", "'", "at", "all", ",", "10", "/", "10"}));
  EXPECT_EQ(split_words("Café Crème"), (Words{"café", "crème"}));
  EXPECT_TRUE(split_words(" \t ").empty());
}

TEST(SplitWords, RejectsInvalidUtf8AndControlCharacters) {
  EXPECT_THROW(split_words("bad \xff byte"), Error);
  EXPECT_THROW(split_words("bell \x07"), Error);
  EXPECT_THROW(split_words("delete \x7f"), Error);
  EXPECT_THROW(split_words("c1 \xc2\x85 control"), Error);
  EXPECT_NO_THROW(split_words("non-breaking\xc2\xa0space"));
}

TEST(WordVocabulary, IsOrderedByCountThenAlphabetAndKeepsFrequentWords) {
  const std::vector<Words> corpus = {{"b", "a", "c"}, {"c", "b", "d"}, {"c", "a"}};
  const WordVocabulary v = WordVocabulary::build(corpus, 2);
  ASSERT_EQ(v.size(), 5);
  EXPECT_EQ(v.word(0), "<pad>");
  EXPECT_EQ(v.word(1), "<unk>");
  EXPECT_EQ(v.word(2), "c");  // 3 times
  EXPECT_EQ(v.word(3), "a");  // 2 times, before "b"
  EXPECT_EQ(v.word(4), "b");
  EXPECT_EQ(v.encode({"a", "d", "zzz"}), (std::vector<int32_t>{3, 1, 1}));
  const WordVocabulary again = WordVocabulary::from_json(v.to_json());
  EXPECT_EQ(again.to_json(), v.to_json());
  EXPECT_EQ(again.id("b"), 4);
  EXPECT_THROW(WordVocabulary::from_json(R"(["a", "b"])"), Error);
  EXPECT_THROW(WordVocabulary::from_json(R"(["<pad>", "<unk>", "x", "x"])"), Error);
}

TEST(SentimentSplit, TakesEveryFifthToTestAndEveryTenthToValidation) {
  const std::vector<apps::SplitPart> expected = {
      apps::SplitPart::kTrain, apps::SplitPart::kTrain, apps::SplitPart::kValidation,
      apps::SplitPart::kTrain, apps::SplitPart::kTest,  apps::SplitPart::kTrain,
      apps::SplitPart::kTrain, apps::SplitPart::kTrain, apps::SplitPart::kTrain,
      apps::SplitPart::kTest};
  for (int64_t k = 0; k < 10; ++k) EXPECT_EQ(apps::split_part(k), expected[k]) << k;
}

TEST(SentimentSplit, ShippedDataSplitsIntoFixedStratifiedParts) {
  const apps::SentimentSplit a = apps::load_sentiment(kSentiment);
  ASSERT_EQ(a.train.size(), 2100u);
  ASSERT_EQ(a.validation.size(), 300u);
  ASSERT_EQ(a.test.size(), 600u);
  int64_t positive = 0;
  for (const auto& s : a.test) positive += s.label;
  EXPECT_EQ(positive, 300);
  const apps::SentimentSplit b = apps::load_sentiment(kSentiment);
  for (size_t i = 0; i < a.test.size(); ++i) EXPECT_EQ(a.test[i].text, b.test[i].text);
  EXPECT_EQ(a.test[0].text.substr(0, 24), "The rest of the movie la");  // 5th negative of imdb
}

TEST(SentimentSplit, MissingOrMalformedFilesAreErrorsNamingTheFile) {
  const std::string dir = temp_dir("sentiment_bad");
  EXPECT_THROW(apps::load_sentiment(dir), Error);
  const std::string path = dir + "/imdb.tsv";
  for (const char* bad : {"1\tfine\n2\tlabel two\n", "1\tfine\n1 no tab\n", "1\tfine\n1\t  \n",
                          "1\tfine\n0\tbad \xff\n", ""}) {
    std::ofstream(path, std::ios::binary) << bad;
    try {
      apps::read_sentiment_file(path);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace attn::testing
