// Lint rules: the recommended sets, a few that catch real bugs in async engine code, and cove's
// layering (scripts/layers.js): imports under src point down the layers only.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { plugin as layers } from "./scripts/layers.js";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "**/*.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/no-explicit-any": "error",
      "no-constant-condition": ["error", { checkLoops: false }],
      "prefer-const": "error",
      eqeqeq: ["error", "smart"],
    },
  },
  {
    files: ["src/**/*.ts"],
    plugins: { cove: layers },
    rules: { "cove/layers": "error" },
  },
);
