/**
 * Icons Element Plus does not have (its set has no thumbs, smiley or globe), drawn here as line icons in
 * the same style (24 × 24, currentColor), so that no UI chrome depends on an emoji font being installed
 * (on a Linux desktop without one, emoji render as empty boxes). Use like Element Plus icons: inside
 * <el-icon>, as a button's `:icon`, or directly (class `k-icon` sizes it to the text).
 */
import { defineComponent, h } from "vue";

function lineIcon(name: string, paths: string[]) {
  return defineComponent({
    name,
    setup() {
      return () =>
        h(
          "svg",
          {
            viewBox: "0 0 24 24",
            fill: "none",
            stroke: "currentColor",
            "stroke-width": 1.8,
            "stroke-linecap": "round",
            "stroke-linejoin": "round",
            "aria-hidden": "true",
          },
          paths.map((d) => h("path", { d })),
        );
    },
  });
}

const THUMB = ["M7 11v9H4a1 1 0 0 1-1-1v-7a1 1 0 0 1 1-1h3z", "M7 11l4-8a2.5 2.5 0 0 1 2.5 2.5V9h5a2 2 0 0 1 2 2.3l-1.2 7A2 2 0 0 1 17.3 20H7"];

export const ThumbUp = lineIcon("ThumbUp", THUMB);

export const ThumbDown = defineComponent({
  name: "ThumbDown",
  setup() {
    return () => h(ThumbUp, { style: { transform: "rotate(180deg)" } });
  },
});

export const Smile = lineIcon("Smile", [
  "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z",
  "M8 14.5c1 1.3 2.4 2 4 2s3-.7 4-2",
  "M9 9.5h.01",
  "M15 9.5h.01",
]);

export const Globe = lineIcon("Globe", [
  "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z",
  "M3 12h18",
  "M12 3c2.5 2.5 3.8 5.5 3.8 9s-1.3 6.5-3.8 9c-2.5-2.5-3.8-5.5-3.8-9S9.5 5.5 12 3z",
]);
