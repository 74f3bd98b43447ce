// Shapes of the knowledge-base API (kefu/schemas/kb.py, docs/kb.md).
export interface KbSimilar {
  id: number;
  question: string;
}

export interface KbEntry {
  id: number;
  standard_question: string;
  similar_questions: KbSimilar[];
  answer: string;
  category_id: number | null;
  category_path: string | null;
  enabled: boolean;
  valid_from: string | null;
  valid_until: string | null;
  in_effect: boolean;
  created_at: string;
  updated_at: string;
}

export interface KbCategory {
  id: number;
  parent_id: number | null;
  name: string;
  path: string;
  entry_count: number;
}

export interface CategoryNode extends KbCategory {
  children: CategoryNode[];
  total: number;
}

export interface LearningItem {
  id: number;
  text: string;
  samples: string[];
  ask_count: number;
  unhelpful_count: number;
  last_reason: string;
  candidates: number[];
  candidate_questions: string[];
  /** entries visitors who asked this picked among the bot's suggestions, most picked first */
  picks: { entry_id: number; question: string; count: number }[];
  status: "open" | "attached" | "created" | "ignored";
  entry_id: number | null;
  first_asked_at: string;
  last_asked_at: string;
  resolved_at: string | null;
}

export interface ImportRowError {
  row: number;
  column: string | null;
  message: string;
}

export interface ImportReport {
  ok: boolean;
  dry_run: boolean;
  mode: string;
  rows: number;
  created: number;
  updated: number;
  deleted: number;
  categories_created: number;
}

/** Categories as a tree; `total` counts the entries of a category and everything below it. */
export function categoryTree(rows: KbCategory[]): CategoryNode[] {
  const nodes = new Map<number, CategoryNode>(rows.map((c) => [c.id, { ...c, children: [], total: c.entry_count }]));
  const roots: CategoryNode[] = [];
  for (const n of nodes.values()) {
    const parent = n.parent_id ? nodes.get(n.parent_id) : undefined;
    if (parent) parent.children.push(n);
    else roots.push(n);
  }
  const sum = (n: CategoryNode): number => (n.total = n.entry_count + n.children.reduce((s, c) => s + sum(c), 0));
  roots.forEach(sum);
  return roots;
}

export { htmlText } from "../../shared/format";

// 机器人测试 (kefu/schemas/bot.py): POST /api/v1/bot/trial.
export type TrialVerdict = "answered" | "suggested" | "declined" | "missed" | "wrong";

export interface TrialHit {
  entry_id: number;
  standard_question: string;
  matched_question: string;
  score: number;
}

export interface TrialRow {
  row: number;
  query: string;
  expected_id: number | null;
  expected_question: string | null;
  outcome: "answer" | "suggest" | "unknown";
  verdict: TrialVerdict;
  rank: number | null;
  hits: TrialHit[];
}

export interface TrialReport {
  n: number;
  top1: number | null;
  top3: number | null;
  mrr: number | null;
  answer_rate: number | null;
  answered_precision: number | null;
  false_answer_rate: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  verdicts: Record<TrialVerdict, number>;
  thresholds_source: string;
  rows: TrialRow[];
}

/** GET /api/v1/kb/duplicates: two entries that ask the same thing; `first` has the more questions. */
export interface EntryBrief {
  id: number;
  standard_question: string;
  similar_count: number;
  category_path: string | null;
}

export interface DuplicateSide extends EntryBrief {
  matched_question: string;
}

/** A pair marked 不是重复 (GET /api/v1/kb/duplicates/dismissals). */
export interface DismissedPair {
  id: number;
  first: EntryBrief;
  second: EntryBrief;
  dismissed_by: string | null;
  dismissed_at: string;
}

export interface DuplicatePair {
  score: number;
  first: DuplicateSide;
  second: DuplicateSide;
}
