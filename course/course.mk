# Course targets, included by the top Makefile (include course/course.mk).
#
#   make project1 ... project4c   grade one stage (see doc/grading.md)
#   make handout                  cut the student handout into dist/handout (staff)
#   make handout-check            the checks CI runs on the handout (staff)
#   make handout-check-all        every check, slow cluster stages too (staff)
#
# GRADE_FLAGS passes flags to the grader: make project2b GRADE_FLAGS="-runs 5".

GRADE       ?= go run ./course/grade
GRADE_FLAGS ?=

# project<STAGE> grades that stage: project2aa -> -stage 2aa (the grader
# takes stage names in any case). The stages are listed once, in
# course/internal/stage; the grader answers a name that is none of them.
# course-force makes the targets phony (a pattern rule cannot be .PHONY).
.PHONY: course-force
course-force:

project%: course-force
	$(GRADE) -stage $* $(GRADE_FLAGS)

#lab:begin staff
HANDOUT_DIR   ?= dist/handout
HANDOUT_FLAGS ?=

.PHONY: handout handout-check handout-check-all

handout:
	go run ./course/handout -out $(HANDOUT_DIR) $(HANDOUT_FLAGS)

handout-check:
	go run ./course/handout -check $(HANDOUT_FLAGS)

handout-check-all:
	go run ./course/handout -check -all $(HANDOUT_FLAGS)
#lab:end
