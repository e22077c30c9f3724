CREATE TABLE "candidates" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"prompt_id" uuid NOT NULL,
	"slot" text NOT NULL,
	"text" text NOT NULL,
	"policy_version_id" integer NOT NULL,
	"token_ids" integer[] NOT NULL,
	"logprobs" real[] NOT NULL,
	"sampling" jsonb NOT NULL,
	"latency_ms" integer NOT NULL,
	CONSTRAINT "candidates_slot_ck" CHECK ("candidates"."slot" in ('a', 'b'))
);
--> statement-breakpoint
CREATE TABLE "checkpoint_chunks" (
	"checkpoint_id" uuid NOT NULL,
	"seq" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "checkpoint_chunks_checkpoint_id_seq_pk" PRIMARY KEY("checkpoint_id","seq")
);
--> statement-breakpoint
CREATE TABLE "checkpoints" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"kind" text NOT NULL,
	"sha256" text NOT NULL,
	"size_bytes" integer NOT NULL,
	"chunk_count" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "conversations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"platform" text NOT NULL,
	"channel_id" text NOT NULL,
	"thread_id" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "imported_pairs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"content_hash" text NOT NULL,
	"context" jsonb NOT NULL,
	"chosen" text NOT NULL,
	"rejected" text NOT NULL,
	"source" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "imported_pairs_content_hash_unique" UNIQUE("content_hash")
);
--> statement-breakpoint
CREATE TABLE "learner_runs" (
	"id" serial PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"status" text DEFAULT 'running' NOT NULL,
	"stage" text DEFAULT 'start' NOT NULL,
	"counts" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"metrics" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"error" text,
	"policy_version_id" integer,
	"reward_model_id" integer
);
--> statement-breakpoint
CREATE TABLE "policy_versions" (
	"id" serial PRIMARY KEY NOT NULL,
	"parent_id" integer,
	"kind" text NOT NULL,
	"status" text NOT NULL,
	"checkpoint_id" uuid NOT NULL,
	"metrics" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone,
	CONSTRAINT "policy_versions_status_ck" CHECK ("policy_versions"."status" in ('candidate', 'challenger', 'live', 'rejected', 'retired'))
);
--> statement-breakpoint
CREATE TABLE "prompts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"conversation_id" uuid NOT NULL,
	"user_id" integer NOT NULL,
	"platform" text NOT NULL,
	"event_id" text NOT NULL,
	"user_text" text NOT NULL,
	"context" jsonb NOT NULL,
	"kind" text DEFAULT 'normal' NOT NULL,
	"slots_swapped" boolean DEFAULT false NOT NULL,
	"platform_message_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "reward_models" (
	"id" serial PRIMARY KEY NOT NULL,
	"parent_id" integer,
	"checkpoint_id" uuid NOT NULL,
	"metrics" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" serial PRIMARY KEY NOT NULL,
	"platform" text NOT NULL,
	"external_id" text NOT NULL,
	"display_name" text,
	"is_bot" boolean DEFAULT false NOT NULL,
	"opted_out_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "votes" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"prompt_id" uuid NOT NULL,
	"user_id" integer NOT NULL,
	"choice" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"withdrawn_at" timestamp with time zone,
	CONSTRAINT "votes_choice_ck" CHECK ("votes"."choice" in ('a', 'b', 'tie', 'both_bad'))
);
--> statement-breakpoint
ALTER TABLE "candidates" ADD CONSTRAINT "candidates_prompt_id_prompts_id_fk" FOREIGN KEY ("prompt_id") REFERENCES "public"."prompts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "candidates" ADD CONSTRAINT "candidates_policy_version_id_policy_versions_id_fk" FOREIGN KEY ("policy_version_id") REFERENCES "public"."policy_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "checkpoint_chunks" ADD CONSTRAINT "checkpoint_chunks_checkpoint_id_checkpoints_id_fk" FOREIGN KEY ("checkpoint_id") REFERENCES "public"."checkpoints"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "policy_versions" ADD CONSTRAINT "policy_versions_checkpoint_id_checkpoints_id_fk" FOREIGN KEY ("checkpoint_id") REFERENCES "public"."checkpoints"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "prompts" ADD CONSTRAINT "prompts_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "prompts" ADD CONSTRAINT "prompts_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reward_models" ADD CONSTRAINT "reward_models_checkpoint_id_checkpoints_id_fk" FOREIGN KEY ("checkpoint_id") REFERENCES "public"."checkpoints"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "votes" ADD CONSTRAINT "votes_prompt_id_prompts_id_fk" FOREIGN KEY ("prompt_id") REFERENCES "public"."prompts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "votes" ADD CONSTRAINT "votes_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "candidates_prompt_slot_uq" ON "candidates" USING btree ("prompt_id","slot");--> statement-breakpoint
CREATE UNIQUE INDEX "conversations_place_uq" ON "conversations" USING btree ("platform","channel_id","thread_id");--> statement-breakpoint
CREATE UNIQUE INDEX "policy_versions_one_live_uq" ON "policy_versions" USING btree ("status") WHERE "policy_versions"."status" = 'live';--> statement-breakpoint
CREATE UNIQUE INDEX "prompts_event_uq" ON "prompts" USING btree ("platform","event_id");--> statement-breakpoint
CREATE UNIQUE INDEX "prompts_platform_message_uq" ON "prompts" USING btree ("platform","platform_message_id");--> statement-breakpoint
CREATE INDEX "prompts_conversation_idx" ON "prompts" USING btree ("conversation_id","created_at");--> statement-breakpoint
CREATE INDEX "prompts_created_idx" ON "prompts" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "users_platform_external_uq" ON "users" USING btree ("platform","external_id");--> statement-breakpoint
CREATE UNIQUE INDEX "votes_prompt_user_uq" ON "votes" USING btree ("prompt_id","user_id");--> statement-breakpoint
CREATE INDEX "votes_updated_idx" ON "votes" USING btree ("updated_at");