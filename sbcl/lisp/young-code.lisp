;;;; Young code under a collection (the memory faults of stress-poll.lisp,
;;;; RELIABILITY.md). Worker threads call, through its global name, a
;;;; function that the main thread loads afresh (from a fasl compiled once)
;;;; before every collection, so its code is young each time; it makes
;;;; strings of lengths unknown at compile time, each through the assembly
;;;; routine ALLOCATE-VECTOR, which has no frame of its own and allocates
;;;; pseudo-atomic. A stop deferred there is honoured at the section's end
;;;; with the routine's return address, the only reference to the young
;;;; code, at the thread's stack pointer: the one word 0.9.4.1's collector
;;;; does not scan (gencgc.c:3605). The collection moves the code and the
;;;; worker returns into the old place: MEMORY-FAULT-ERROR. The library
;;;; shows the collector that word (src/host/stack_top.rs). Runs
;;;; SBCL_TEST_ARGS seconds (default 5); exits 104 when no thread had an
;;;; error (common.lisp: STRESS-FINISH).

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *seconds* (test-arg 5))
(defvar *done* nil)
(defvar *round* 0)

(defun worker ()
  (stress-lambda ((format nil "worker, round ~D" *round*))
    (loop until *done*
          do (funcall 'churn 2000 (+ 4 (random 8))))))

(defun churn-fasl ()
  "Compiles CHURN into a fasl in a fresh temporary file; returns its name."
  (let* ((base (format nil "/tmp/young-code-~D-~D" (get-universal-time) (random 1000000 (make-random-state t))))
         (source (concatenate 'string base ".lisp")))
    (with-open-file (s source :direction :output)
      (write-string "(in-package \"CL-USER\")
(defun churn (n length)
  (let ((strings (loop repeat n collect (make-string length))))
    (loop for s in strings
          unless (= (length s) length)
            do (error \"a string of ~D characters has ~D\" length (length s)))
    (length strings)))
" s))
    (prog1 (let ((*compile-verbose* nil) (*compile-print* nil))
             (compile-file source :output-file (concatenate 'string base ".fasl")))
      (delete-file source))))

(defun load-churn (fasl)
  "Loads FASL: a new code object for CHURN."
  (handler-bind ((warning #'muffle-warning))
    (load fasl)))

(let* ((fasl (churn-fasl))
       (start (progn (load-churn fasl) (get-internal-real-time)))
       (deadline (stress-deadline *seconds*))
       (counts (list (list :rounds 0)))
       (workers (loop repeat 4 collect (sb-thread:make-thread (worker) :name "worker"))))
  (with-stress-errors ("main thread")
    (loop while (stress-time-left-p deadline)
          do (load-churn fasl)
             (sleep 0.002)              ; the workers enter the new code
             (sb-ext:gc)
             (setf *round* (incf (getf (car counts) :rounds)))))
  (setf *done* t)
  (mapc #'wait-polling workers)
  (delete-file fasl)
  (stress-finish "young-code" start (car counts)))
