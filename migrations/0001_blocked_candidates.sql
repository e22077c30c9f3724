CREATE TABLE "blocked_candidates" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"policy_version_id" integer NOT NULL,
	"reason" text NOT NULL,
	"fell_back" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "blocked_candidates_created_idx" ON "blocked_candidates" USING btree ("created_at");